"""Versions of the signal weights learned from outcomes, which predictions read.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-03
"""

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "signal_weight_versions",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("version", sa.String(128), nullable=False, unique=True),
        sa.Column("params", sa.JSON, nullable=False),
        sa.Column("evaluation_tier", sa.String(8), nullable=False),
        sa.Column("fitted_at", sa.DateTime(timezone=True), nullable=False, index=True),
    )


def downgrade() -> None:
    op.drop_table("signal_weight_versions")
