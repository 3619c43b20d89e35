"""Table definitions used by queries. Migrations (store/migrations) create and evolve them;
a test checks that the migrated database matches these definitions.

Each revision writes out the columns it creates as they stood at that revision, so its lines
repeat these: a migration is a frozen snapshot and never imports this module, whose tables move
on. The tables below are alike in shape for the same reason any two declarations are.
"""

from __future__ import annotations

import sqlalchemy as sa

from viral_pipeline.store.queues import QUEUED, RUNNING

metadata = sa.MetaData()

# The statuses of a profile request that is not finished, as the partial unique index on
# profile_requests and the INSERT ... ON CONFLICT that relies on it both spell them (the two must
# match word for word for SQLite and PostgreSQL to pair the conflict with the index).
PROFILE_UNFINISHED = f"status IN ('{QUEUED}', '{RUNNING}')"

# Ids are strings: TikTok ids reach 19 digits, beyond what a float or a JS number holds.
scraped_videos = sa.Table(
    "scraped_videos",
    metadata,
    sa.Column("video_id", sa.String(32), primary_key=True),
    sa.Column("source_format", sa.String(16), nullable=False),
    sa.Column("author_id", sa.String(32), nullable=False, index=True),
    sa.Column("author_handle", sa.String(128), nullable=False),
    sa.Column("author_followers", sa.BigInteger, nullable=True),
    sa.Column("author_verified", sa.Boolean, nullable=True),
    sa.Column("caption", sa.Text, nullable=False),
    sa.Column("hashtags", sa.JSON, nullable=False),
    sa.Column("music_id", sa.String(32), nullable=True, index=True),
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
    # Which scraper source (simulated, apify) last delivered the video; NULL when unrecorded.
    sa.Column("scraper_source", sa.String(16), nullable=True, index=True),
)
# Day ranges (trending_sounds, training rows) scan posting time; a served creator history also
# counts, per earlier video, the videos of its label window with fewer plays, which this index
# answers without reading the table.
sa.Index(
    "ix_scraped_videos_posted_at_play_count",
    scraped_videos.c.posted_at,
    scraped_videos.c.play_count,
)
# A served prediction reads its creator's earlier videos by handle (compared as handle_key does:
# case-insensitively) and posting time, in one range scan (store/creator_history.py).
sa.Index(
    "ix_scraped_videos_handle_key_posted_at",
    sa.func.lower(scraped_videos.c.author_handle),
    scraped_videos.c.posted_at,
)

# Every sighting of a video: its plays at that age. scraped_videos keeps only the latest, so
# these rows are what the views of a video at 24 h, 72 h and 7 d can be read from later.
video_snapshots = sa.Table(
    "video_snapshots",
    metadata,
    sa.Column("video_id", sa.String(32), primary_key=True),
    sa.Column("observed_at", sa.DateTime(timezone=True), primary_key=True),
    sa.Column("age_hours", sa.Float, nullable=False),  # observed_at - posted_at
    sa.Column("play_count", sa.BigInteger, nullable=False),
)

creators = sa.Table(
    "creators",
    metadata,
    sa.Column("author_id", sa.String(32), primary_key=True),
    sa.Column("handle", sa.String(128), nullable=False, index=True),
    sa.Column("followers", sa.BigInteger, nullable=True),
    sa.Column("verified", sa.Boolean, nullable=True),
    sa.Column("follower_tier", sa.String(8), nullable=True),
    # 'scrape' (derived from videos' author data) or 'profile' (a profile scrape, which wins).
    sa.Column("source", sa.String(16), nullable=False),
    sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
)

trending_sounds = sa.Table(
    "trending_sounds",
    metadata,
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
    sa.Index("ix_trending_sounds_day", "day"),
)

ingest_rejects = sa.Table(
    "ingest_rejects",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("source", sa.String(16), nullable=False),
    sa.Column("batch", sa.String(64), nullable=False),
    sa.Column("reason", sa.Text, nullable=False),
    sa.Column("raw", sa.Text, nullable=False),
    # The same bad item delivered twice (a re-run, a repeated webhook) is kept once.
    sa.Column("raw_sha256", sa.String(64), nullable=False, unique=True),
    sa.Column("rejected_at", sa.DateTime(timezone=True), nullable=False),
)

apify_webhook_events = sa.Table(
    "apify_webhook_events",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("apify_run_id", sa.String(64), nullable=False, unique=True),
    sa.Column("dataset_id", sa.String(64), nullable=True),
    sa.Column("event_type", sa.String(64), nullable=False),
    sa.Column("run_status", sa.String(32), nullable=False),
    sa.Column("deliveries", sa.Integer, nullable=False, server_default="1"),
    sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
)

# ---- Predictions -----------------------------------------------------------------------

prediction_requests = sa.Table(
    "prediction_requests",
    metadata,
    # The integer id orders requests for the sensor's cursor; request_id is what callers see.
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("request_id", sa.String(36), nullable=False, unique=True),
    sa.Column("payload", sa.JSON, nullable=False),
    sa.Column("status", sa.String(16), nullable=False, index=True),
    sa.Column("result", sa.JSON, nullable=True),
    sa.Column("error", sa.Text, nullable=True),
    sa.Column("dagster_run_id", sa.String(64), nullable=True),
    sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("started_at", sa.DateTime(timezone=True), nullable=True),
    sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
    # The posted video, once known: evaluate_predictions collects its outcomes.
    sa.Column("video_id", sa.String(32), nullable=True),
    sa.Column("video_url", sa.Text, nullable=True),
    # The API caller (API_TOKENS name) that owns the request; NULL for rows stored before callers
    # were recorded, which no caller owns.
    sa.Column("caller", sa.String(64), nullable=True, index=True),
    # The caller's Idempotency-Key for this POST /api/analyze, and the SHA-256 of the validated
    # request's canonical JSON it was sent with; NULL when the POST carried no key.
    sa.Column("idempotency_key", sa.String(255), nullable=True),
    sa.Column("payload_sha256", sa.String(64), nullable=True),
    # One request per caller and key, even when two POSTs with it arrive at once: the second
    # insert conflicts and reads the first one's row. Rows without a key (NULL) never conflict.
    sa.Index("uq_prediction_requests_idempotency_key", "caller", "idempotency_key", unique=True),
)

prediction_stages = sa.Table(
    "prediction_stages",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("request_id", sa.String(36), nullable=False, index=True),
    sa.Column("stage", sa.String(32), nullable=False),
    sa.Column("provider", sa.String(32), nullable=True),
    sa.Column("duration_ms", sa.Float, nullable=False),
    sa.Column("cost_cents", sa.Float, nullable=False),
    sa.Column("input_tokens", sa.Integer, nullable=True),
    sa.Column("output_tokens", sa.Integer, nullable=True),
    sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False, index=True),
    # A retried run rewrites its stages instead of adding a second set.
    sa.UniqueConstraint("request_id", "stage", name="uq_prediction_stages_request_stage"),
)

llm_circuit_breakers = sa.Table(
    "llm_circuit_breakers",
    metadata,
    sa.Column("provider", sa.String(32), primary_key=True),
    sa.Column("state", sa.String(16), nullable=False),  # closed, open, half_open
    sa.Column("consecutive_failures", sa.Integer, nullable=False, server_default="0"),
    sa.Column("open_until", sa.DateTime(timezone=True), nullable=True),
    # The one probe allowed through while half-open: who took it and when (a stale probe expires).
    sa.Column("probe_token", sa.String(64), nullable=True),
    sa.Column("probe_started_at", sa.DateTime(timezone=True), nullable=True),
    sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
)

# The champion as the predict runs load it: one row per registered model name, written by
# champion_model when it promotes. Each predict run is a new process; reading these bytes
# costs milliseconds, where importing MLflow and loading from the registry costs seconds.
serving_models = sa.Table(
    "serving_models",
    metadata,
    sa.Column("model_name", sa.String(128), primary_key=True),
    sa.Column("version", sa.String(32), nullable=False),
    sa.Column("decision_threshold", sa.Float, nullable=False),
    sa.Column("model_pickle", sa.LargeBinary, nullable=False),
    sa.Column("published_at", sa.DateTime(timezone=True), nullable=False),
    # The same model compiled to numpy arrays (engine/model/scorer.py): loads without scikit-learn.
    # NULL when the compiler does not support the model; the pickle serves then.
    sa.Column("scorer", sa.LargeBinary, nullable=True),
    # What the version was trained on (engine.model.provenance.Provenance.as_dict()); NULL when unknown.
    sa.Column("trained_on", sa.JSON, nullable=True),
)

# ---- The calibration loop -------------------------------------------------------------

# What a predicted video did, per evaluation tier. The label uses the training label's
# definition and threshold, both recorded with it.
outcomes = sa.Table(
    "outcomes",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("request_id", sa.String(36), nullable=False, index=True),
    sa.Column("evaluation_tier", sa.String(8), nullable=False),  # 24h, 72h, 7d
    sa.Column("video_id", sa.String(32), nullable=True),
    sa.Column("video_url", sa.Text, nullable=True),
    sa.Column("views", sa.BigInteger, nullable=False),
    sa.Column("likes", sa.BigInteger, nullable=True),
    sa.Column("comments", sa.BigInteger, nullable=True),
    sa.Column("shares", sa.BigInteger, nullable=True),
    sa.Column("is_viral", sa.Boolean, nullable=False),
    sa.Column("viral_threshold_views", sa.Float, nullable=False),
    sa.Column("label_definition", sa.Text, nullable=False),
    sa.Column("source", sa.String(16), nullable=False),  # api, simulated, apify
    sa.Column("observed_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    # Idempotent per (request, tier): a repeat updates the row.
    sa.UniqueConstraint("request_id", "evaluation_tier", name="uq_outcomes_request_tier"),
)

# The updated probability of being viral at 7 d, computed when a prediction's 24 h or 72 h
# outcome arrives (viral_pipeline/ml/early_view_updates.py); one row per (request, tier).
prediction_updates = sa.Table(
    "prediction_updates",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("request_id", sa.String(36), nullable=False, index=True),
    sa.Column("evaluation_tier", sa.String(8), nullable=False),  # 24h, 72h
    sa.Column("viral_probability_7d", sa.Float, nullable=False),
    sa.Column("model_version", sa.String(32), nullable=False),
    sa.Column("computed_at", sa.DateTime(timezone=True), nullable=False),
    sa.UniqueConstraint("request_id", "evaluation_tier", name="uq_prediction_updates_tier"),
)

# Versioned Platt parameters; the newest row is what predictions use. `params` is the
# PlattParams document, kept as JSON so a malformed row is read (and rejected) rather than lost.
platt_calibrations = sa.Table(
    "platt_calibrations",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("version", sa.String(128), nullable=False, unique=True),
    sa.Column("params", sa.JSON, nullable=False),
    sa.Column("evaluation_tier", sa.String(8), nullable=False),
    sa.Column("fitted_at", sa.DateTime(timezone=True), nullable=False, index=True),
)

# serving_signal_weights' gated versions of the signal weights learned from outcomes; the newest
# serves (engine/signals/learned_weights.py).
signal_weight_versions = sa.Table(
    "signal_weight_versions",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("version", sa.String(128), nullable=False, unique=True),
    sa.Column("params", sa.JSON, nullable=False),
    sa.Column("evaluation_tier", sa.String(8), nullable=False),
    sa.Column("fitted_at", sa.DateTime(timezone=True), nullable=False, index=True),
)

# calibration_audit's record of recent predictions' ECE against their outcomes (drift).
calibration_audits = sa.Table(
    "calibration_audits",
    metadata,
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

# PATCH /api/profile stores the handle here; a sensor launches one profile scrape per row.
profile_requests = sa.Table(
    "profile_requests",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("request_id", sa.String(36), nullable=False, unique=True),
    sa.Column("handle", sa.String(128), nullable=False, index=True),
    sa.Column("payload", sa.JSON, nullable=False),
    sa.Column(
        "status", sa.String(16), nullable=False, index=True
    ),  # queued, running, succeeded, failed
    sa.Column("error", sa.Text, nullable=True),
    sa.Column("dagster_run_id", sa.String(64), nullable=True),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
    # As on prediction_requests: the owning API caller, NULL for rows from before callers.
    sa.Column("caller", sa.String(64), nullable=True, index=True),
    # How the handle compares (engine.inputs.handles.handle_key). NULL on a duplicate that was
    # already queued when requests became idempotent, so it holds no place in the index below.
    sa.Column("handle_key", sa.String(128), nullable=True),
    # One unfinished request per caller and handle: a repeated PATCH gets the queued or running
    # one back instead of paying for a second scrape, even when two arrive at once.
    sa.Index(
        "uq_profile_requests_unfinished_handle",
        "caller",
        "handle_key",
        unique=True,
        sqlite_where=sa.text(PROFILE_UNFINISHED),
        postgresql_where=sa.text(PROFILE_UNFINISHED),
    ),
)

# ---- The API's callers ----------------------------------------------------------------

# Rate limits (api/limits.py): how many requests each caller made in each limit group in a fixed
# window. Kept in the app database so every API worker process and machine counts together.
api_rate_windows = sa.Table(
    "api_rate_windows",
    metadata,
    sa.Column("caller", sa.String(64), primary_key=True),
    sa.Column("limit_group", sa.String(16), primary_key=True),
    sa.Column("window_start", sa.DateTime(timezone=True), primary_key=True),
    # Requests admitted in this window; never above the group's limit.
    sa.Column("admitted", sa.Integer, nullable=False),
)
