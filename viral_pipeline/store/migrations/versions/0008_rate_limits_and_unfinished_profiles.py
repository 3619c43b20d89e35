"""Rate limit windows of the API's callers; one unfinished profile request per caller and handle.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-03
"""

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

UNFINISHED = "status IN ('queued', 'running')"


def upgrade() -> None:
    op.create_table(
        "api_rate_windows",
        sa.Column("caller", sa.String(64), primary_key=True),
        sa.Column("limit_group", sa.String(16), primary_key=True),
        sa.Column("window_start", sa.DateTime(timezone=True), primary_key=True),
        sa.Column("admitted", sa.Integer, nullable=False),
    )
    op.add_column("profile_requests", sa.Column("handle_key", sa.String(128), nullable=True))
    # Handles are stored without '@' and hold only ASCII letters, digits, '_' and '.', so SQL's
    # lower() is the application's handle_key. Unfinished duplicates queued before this revision
    # keep no key, except the oldest of each caller and handle, so the unique index can be built;
    # they still run, and a later PATCH finds the oldest.
    op.execute(
        sa.text(
            "UPDATE profile_requests SET handle_key = lower(handle) "
            f"WHERE NOT ({UNFINISHED}) OR id = ("
            "SELECT min(other.id) FROM profile_requests AS other "
            "WHERE other.status IN ('queued', 'running') "
            "AND other.caller = profile_requests.caller "
            "AND lower(other.handle) = lower(profile_requests.handle))"
        )
    )
    op.create_index(
        "uq_profile_requests_unfinished_handle",
        "profile_requests",
        ["caller", "handle_key"],
        unique=True,
        sqlite_where=sa.text(UNFINISHED),
        postgresql_where=sa.text(UNFINISHED),
    )


def downgrade() -> None:
    op.drop_index("uq_profile_requests_unfinished_handle", table_name="profile_requests")
    with op.batch_alter_table("profile_requests") as batch:
        batch.drop_column("handle_key")
    op.drop_table("api_rate_windows")
