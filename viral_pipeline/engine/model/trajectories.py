"""A scraped video's trajectory read as the outcome tiers a prediction would have collected.

Every scrape of a video records its plays at that age (`video_snapshots`). To train the update
model on real videos, each video's sightings are read exactly as `evaluate_predictions` collects
a prediction's tiers: a tier is collected once due, at its age, and only until the end of its
collection window (`COLLECTION_WINDOW_FACTOR` times the age), because a scraper reads *current*
views. So a tier's reading is the video's first sighting inside that window; a video never seen
inside a window has no reading for that tier, as a prediction whose tier expired uncollected.

The 7 d reading found this way is the video's 7-day outcome (the label's views): the first
sighting at 168 h or later, within 252 h. Not the last sighting: a video still seen weeks later
would carry views of any age, and its label would depend on how long the scraper kept seeing it.
No interpolation: a training row holds real readings at the ages they were read, as a served
update does (its age is a feature).

The update features are then `early_views_at` of these rows: the serving function, so the
leakage rule is the same (an update at a tier reads its tier's reading and the 24 h one, never a
later sighting). Pure: no numpy or pandas.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from viral_pipeline.engine.calibration.outcomes import (
    COLLECTION_WINDOW_FACTOR,
    TIER_AGES,
    TIERS,
    EvaluationTier,
)
from viral_pipeline.engine.timeutil import as_utc


def collected_tiers(
    posted_at: datetime, sightings: Iterable[tuple[datetime, int]]
) -> dict[EvaluationTier, dict]:
    """{tier: outcome row (`evaluation_tier`, `views`, `observed_at`)} from a video's sightings
    (time seen, plays): per tier, the first sighting inside its collection window."""
    posted = as_utc(posted_at)
    ordered = sorted((as_utc(seen), int(plays)) for seen, plays in sightings)
    rows: dict[EvaluationTier, dict] = {}
    for tier in TIERS:
        due = posted + TIER_AGES[tier]
        until = posted + TIER_AGES[tier] * COLLECTION_WINDOW_FACTOR
        first = next(((seen, plays) for seen, plays in ordered if due <= seen <= until), None)
        if first is not None:
            rows[tier] = {"evaluation_tier": str(tier), "views": first[1], "observed_at": first[0]}
    return rows
