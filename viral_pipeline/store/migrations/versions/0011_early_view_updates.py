"""Views of each video at every scrape (its trajectory), and the updated predictions after
early views.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-03
"""

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "video_snapshots",
        sa.Column("video_id", sa.String(32), primary_key=True),
        sa.Column("observed_at", sa.DateTime(timezone=True), primary_key=True),
        sa.Column("age_hours", sa.Float, nullable=False),
        sa.Column("play_count", sa.BigInteger, nullable=False),
    )
    op.create_table(
        "prediction_updates",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("request_id", sa.String(36), nullable=False, index=True),
        sa.Column("evaluation_tier", sa.String(8), nullable=False),
        sa.Column("viral_probability_7d", sa.Float, nullable=False),
        sa.Column("model_version", sa.String(32), nullable=False),
        sa.Column("computed_at", sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint("request_id", "evaluation_tier", name="uq_prediction_updates_tier"),
    )


def downgrade() -> None:
    op.drop_table("prediction_updates")
    op.drop_table("video_snapshots")
