"""The data half: scraped_videos, creators, trending_sounds, ingest_rejects, apify_webhook_events.

Revision ID: 0001
Revises:
Create Date: 2026-11-29
"""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "scraped_videos",
        sa.Column("video_id", sa.String(32), primary_key=True),
        sa.Column("source_format", sa.String(16), nullable=False),
        sa.Column("author_id", sa.String(32), nullable=False),
        sa.Column("author_handle", sa.String(128), nullable=False),
        sa.Column("author_followers", sa.BigInteger, nullable=True),
        sa.Column("author_verified", sa.Boolean, nullable=True),
        sa.Column("caption", sa.Text, nullable=False),
        sa.Column("hashtags", sa.JSON, nullable=False),
        sa.Column("music_id", sa.String(32), nullable=True),
        sa.Column("music_name", sa.Text, nullable=True),
        sa.Column("music_author", sa.Text, nullable=True),
        sa.Column("music_original", sa.Boolean, nullable=True),
        sa.Column("duration_s", sa.Integer, nullable=False),
        sa.Column("is_slideshow", sa.Boolean, nullable=False),
        sa.Column("posted_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("play_count", sa.BigInteger, nullable=False),
        sa.Column("like_count", sa.BigInteger, nullable=False),
        sa.Column("comment_count", sa.BigInteger, nullable=False),
        sa.Column("share_count", sa.BigInteger, nullable=False),
        sa.Column("collect_count", sa.BigInteger, nullable=True),
        sa.Column("web_url", sa.Text, nullable=True),
        sa.Column("first_seen_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_seen_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_scraped_videos_author_id", "scraped_videos", ["author_id"])
    op.create_index("ix_scraped_videos_music_id", "scraped_videos", ["music_id"])
    op.create_index("ix_scraped_videos_posted_at", "scraped_videos", ["posted_at"])

    op.create_table(
        "creators",
        sa.Column("author_id", sa.String(32), primary_key=True),
        sa.Column("handle", sa.String(128), nullable=False),
        sa.Column("followers", sa.BigInteger, nullable=True),
        sa.Column("verified", sa.Boolean, nullable=True),
        sa.Column("follower_tier", sa.String(8), nullable=True),
        sa.Column("source", sa.String(16), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_creators_handle", "creators", ["handle"])

    op.create_table(
        "trending_sounds",
        sa.Column("music_id", sa.String(32), primary_key=True),
        sa.Column("day", sa.Date, primary_key=True),
        sa.Column("music_name", sa.Text, nullable=True),
        sa.Column("uses", sa.Integer, nullable=False),
        sa.Column("plays", sa.BigInteger, nullable=False),
        sa.Column("engagement", sa.Float, nullable=False),
        sa.Column("growth", sa.Float, nullable=False),
        sa.Column("velocity", sa.Float, nullable=False),
        sa.Column("trend_score", sa.Float, nullable=False),
        sa.Column("computed_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_trending_sounds_day", "trending_sounds", ["day"])

    op.create_table(
        "ingest_rejects",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("source", sa.String(16), nullable=False),
        sa.Column("batch", sa.String(64), nullable=False),
        sa.Column("reason", sa.Text, nullable=False),
        sa.Column("raw", sa.Text, nullable=False),
        sa.Column("raw_sha256", sa.String(64), nullable=False, unique=True),
        sa.Column("rejected_at", sa.DateTime(timezone=True), nullable=False),
    )

    op.create_table(
        "apify_webhook_events",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("apify_run_id", sa.String(64), nullable=False, unique=True),
        sa.Column("dataset_id", sa.String(64), nullable=True),
        sa.Column("event_type", sa.String(64), nullable=False),
        sa.Column("run_status", sa.String(32), nullable=False),
        sa.Column("deliveries", sa.Integer, nullable=False, server_default="1"),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
    )


def downgrade() -> None:
    for table in (
        "apify_webhook_events",
        "ingest_rejects",
        "trending_sounds",
        "creators",
        "scraped_videos",
    ):
        op.drop_table(table)
