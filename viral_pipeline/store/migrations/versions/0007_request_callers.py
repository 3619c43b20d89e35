"""Callers: which API caller (API_TOKENS name) made each prediction and profile request.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-03
"""

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # NULL for requests stored before callers were recorded: no caller owns them, so none can
    # read them, bind their video or post their outcomes through the API (the scheduled
    # outcome collection still evaluates them).
    for table in ("prediction_requests", "profile_requests"):
        op.add_column(table, sa.Column("caller", sa.String(64), nullable=True))
        op.create_index(f"ix_{table}_caller", table, ["caller"])


def downgrade() -> None:
    for table in ("profile_requests", "prediction_requests"):
        op.drop_index(f"ix_{table}_caller", table_name=table)
        with op.batch_alter_table(table) as batch:
            batch.drop_column("caller")
