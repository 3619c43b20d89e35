"""Builders for outcome tests: succeeded predictions and scraped days, written through the store."""

from __future__ import annotations

from datetime import date
from typing import Any

import sqlalchemy as sa

from viral_pipeline.engine.provenance import Provenance
from viral_pipeline.engine.simulated import generate_day
from viral_pipeline.store.predictions import create_request, mark_running, mark_succeeded
from viral_pipeline.store.videos import ingest_items

# What a model trained on the bundled simulated set records; it serves the simulated source.
BUNDLED = Provenance(dataset="bundled", source="simulated", first_posted_day="2026-01-01",
                     last_posted_day="2026-01-30", rows=14_768)

PAYLOAD: dict[str, Any] = {
    "caption": "The 10-minute pasta #food #recipe",
    "hashtags": ["easyrecipe"],
    "sound": {"name": "golden dreams", "original": False},
    "duration_s": 18,
    "posted_at": "2026-11-20T16:00:00Z",
    "creator": {"handle": "chef", "followers": 25000, "verified": False},
    "hook": None,
}


def succeeded_prediction(engine: sa.Engine, payload: dict[str, Any] | None = None, *, score: float = 0.3) -> str:
    """A prediction request that went queued → running → succeeded, as the predict job leaves it."""
    request_id = create_request(engine, dict(payload or PAYLOAD))
    mark_running(engine, request_id, "test-run")
    mark_succeeded(engine, request_id, {"viral_probability": score, "score": score, "is_calibrated": False})
    return request_id


def scrape_simulated_day(engine: sa.Engine, day: date, n: int = 400) -> None:
    """One simulated day in scraped_videos, as the scrape job stores it."""
    ingest_items(engine, generate_day(day, n).items, source="simulated", batch=f"test:{day}")
