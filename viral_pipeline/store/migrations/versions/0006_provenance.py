"""Provenance: the scraper source of each video, and what the published champion was trained on.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-02
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # NULL for videos stored before the source was recorded: training leaves them out, since
    # nobody can say which world they describe.
    op.add_column("scraped_videos", sa.Column("scraper_source", sa.String(16), nullable=True))
    op.create_index("ix_scraped_videos_scraper_source", "scraped_videos", ["scraper_source"])
    # NULL for a champion published before provenance was recorded: it does not serve until a
    # retrain says what it learned from.
    op.add_column("serving_models", sa.Column("trained_on", sa.JSON, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("serving_models") as batch:
        batch.drop_column("trained_on")
    op.drop_index("ix_scraped_videos_scraper_source", table_name="scraped_videos")
    with op.batch_alter_table("scraped_videos") as batch:
        batch.drop_column("scraper_source")
