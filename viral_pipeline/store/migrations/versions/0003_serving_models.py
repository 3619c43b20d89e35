"""serving_models: the champion model published for the predict runs.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-29
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "serving_models",
        sa.Column("model_name", sa.String(128), primary_key=True),
        sa.Column("version", sa.String(32), nullable=False),
        sa.Column("decision_threshold", sa.Float, nullable=False),
        sa.Column("model_pickle", sa.LargeBinary, nullable=False),
        sa.Column("published_at", sa.DateTime(timezone=True), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("serving_models")
