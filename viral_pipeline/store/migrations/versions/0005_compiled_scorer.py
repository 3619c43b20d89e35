"""serving_models.scorer: the champion compiled to numpy arrays (engine/model/scorer.py).

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-29
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Nullable: a model the compiler does not support is served from its pickle.
    op.add_column("serving_models", sa.Column("scorer", sa.LargeBinary, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("serving_models") as batch:
        batch.drop_column("scorer")
