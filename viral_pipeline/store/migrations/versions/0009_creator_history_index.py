"""Indexes for a served creator history: a creator's earlier videos by handle (case-insensitive)
and posting time; the posting time index gains play_count, so counting a label window's videos
with fewer plays reads the index alone (it still serves every posting-time range).

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
    op.drop_index("ix_scraped_videos_posted_at", table_name="scraped_videos")
    op.create_index(
        "ix_scraped_videos_posted_at_play_count", "scraped_videos", ["posted_at", "play_count"]
    )
    op.create_index(
        "ix_scraped_videos_handle_key_posted_at",
        "scraped_videos",
        [sa.text("lower(author_handle)"), "posted_at"],
    )


def downgrade() -> None:
    op.drop_index("ix_scraped_videos_handle_key_posted_at", table_name="scraped_videos")
    op.drop_index("ix_scraped_videos_posted_at_play_count", table_name="scraped_videos")
    op.create_index("ix_scraped_videos_posted_at", "scraped_videos", ["posted_at"])
