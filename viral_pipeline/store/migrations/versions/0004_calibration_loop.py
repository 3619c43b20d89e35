"""The calibration loop: outcomes, Platt parameters, calibration audits, profile requests.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-29
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # The posted video, once known, lets evaluate_predictions collect outcomes by itself.
    op.add_column("prediction_requests", sa.Column("video_id", sa.String(32), nullable=True))
    op.add_column("prediction_requests", sa.Column("video_url", sa.Text, nullable=True))
    op.create_table(
        "outcomes",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("request_id", sa.String(36), nullable=False, index=True),
        sa.Column("evaluation_tier", sa.String(8), nullable=False),
        sa.Column("video_id", sa.String(32), nullable=True),
        sa.Column("video_url", sa.Text, nullable=True),
        sa.Column("views", sa.BigInteger, nullable=False),
        sa.Column("likes", sa.BigInteger, nullable=True),
        sa.Column("comments", sa.BigInteger, nullable=True),
        sa.Column("shares", sa.BigInteger, nullable=True),
        sa.Column("is_viral", sa.Boolean, nullable=False),
        sa.Column("viral_threshold_views", sa.Float, nullable=False),
        sa.Column("label_definition", sa.Text, nullable=False),
        sa.Column("source", sa.String(16), nullable=False),
        sa.Column("observed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint("request_id", "evaluation_tier", name="uq_outcomes_request_tier"),
    )
    op.create_table(
        "platt_calibrations",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("version", sa.String(128), nullable=False, unique=True),
        sa.Column("params", sa.JSON, nullable=False),
        sa.Column("evaluation_tier", sa.String(8), nullable=False),
        sa.Column("fitted_at", sa.DateTime(timezone=True), nullable=False, index=True),
    )
    op.create_table(
        "calibration_audits",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("audited_at", sa.DateTime(timezone=True), nullable=False, index=True),
        sa.Column("evaluation_tier", sa.String(8), nullable=False),
        sa.Column("window_days", sa.Integer, nullable=False),
        sa.Column("n_outcomes", sa.Integer, nullable=False),
        sa.Column("ece", sa.Float, nullable=True),
        sa.Column("ece_equal_mass", sa.Float, nullable=True),
        sa.Column("noise_floor", sa.Float, nullable=True),
        sa.Column("platt_version", sa.String(128), nullable=True),
    )
    op.create_table(
        "profile_requests",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("request_id", sa.String(36), nullable=False, unique=True),
        sa.Column("handle", sa.String(128), nullable=False, index=True),
        sa.Column("payload", sa.JSON, nullable=False),
        sa.Column("status", sa.String(16), nullable=False, index=True),
        sa.Column("error", sa.Text, nullable=True),
        sa.Column("dagster_run_id", sa.String(64), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
    )


def downgrade() -> None:
    op.drop_table("profile_requests")
    op.drop_table("calibration_audits")
    op.drop_table("platt_calibrations")
    op.drop_table("outcomes")
    with op.batch_alter_table("prediction_requests") as batch:
        batch.drop_column("video_url")
        batch.drop_column("video_id")
