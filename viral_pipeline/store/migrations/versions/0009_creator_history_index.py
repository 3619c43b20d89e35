"""An index for a creator's earlier videos by handle (case-insensitive) and posting time.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-03
"""

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index(
        "ix_scraped_videos_handle_key_posted_at",
        "scraped_videos",
        [sa.text("lower(author_handle)"), "posted_at"],
    )


def downgrade() -> None:
    op.drop_index("ix_scraped_videos_handle_key_posted_at", table_name="scraped_videos")
