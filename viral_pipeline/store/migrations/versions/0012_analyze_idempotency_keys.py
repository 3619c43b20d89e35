"""Idempotency keys of POST /api/analyze: the caller's key and the request's fingerprint on each
prediction request, unique per caller and key.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-03
"""

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Nullable columns added in place: the requests already stored keep their rows, keyless.
    op.add_column(
        "prediction_requests", sa.Column("idempotency_key", sa.String(255), nullable=True)
    )
    op.add_column("prediction_requests", sa.Column("payload_sha256", sa.String(64), nullable=True))
    op.create_index(
        "uq_prediction_requests_idempotency_key",
        "prediction_requests",
        ["caller", "idempotency_key"],
        unique=True,
    )


def downgrade() -> None:
    op.drop_index("uq_prediction_requests_idempotency_key", table_name="prediction_requests")
    with op.batch_alter_table("prediction_requests") as batch:
        batch.drop_column("payload_sha256")
        batch.drop_column("idempotency_key")
