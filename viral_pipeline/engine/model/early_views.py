"""The features of an updated prediction once a video's early views are known (numpy only).

When a prediction's 24 h or 72 h outcome arrives, the update model gives the probability that the
video will be viral at 7 d (the training label's rule, on its 7-day views), from:

- the request's own pre-posting features that need no lookup (`PRE_POSTING_COLUMNS`: reach,
  badge, duration, hashtags, caption, sound originality, posting time), computed by
  `feature_vector` exactly as the champion's are;
- the views observed at this tier and the age at which they were read (a tier is collected
  between its age and 1.5 times it, and a scraper reads current views);
- at the 72 h tier, their growth since the 24 h tier, when that was observed.

Leakage rule: an update at a tier reads only views observed at that tier or an earlier one,
never a later tier's (the 7 d views are the label). `early_views_at` applies it to a
prediction's outcome rows, and training builds the same columns with the same function.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import numpy as np

from viral_pipeline.engine.calibration.outcomes import TIER_AGES, EvaluationTier
from viral_pipeline.engine.model.feature_row import FEATURE_COLUMNS, feature_vector
from viral_pipeline.engine.timeutil import as_utc

# The tiers at which an update is computed; the 7 d tier is what it predicts.
UPDATE_TIERS: tuple[EvaluationTier, ...] = (EvaluationTier.HOURS_24, EvaluationTier.HOURS_72)
PRE_POSTING_COLUMNS: tuple[str, ...] = (
    "log_followers",
    "follower_tier",
    "verified",
    "duration_s",
    "hashtag_count",
    "generic_tag_count",
    "caption_chars",
    "has_sound",
    "sound_original",
    "hour_sin",
    "hour_cos",
    "weekday",
)
EARLY_VIEW_COLUMNS: tuple[str, ...] = (
    "hours_observed",  # the age of the views read at this tier
    "log_views",  # log1p of those views
    "log_growth_since_24h",  # log1p(views) - log1p(the 24 h tier's views); NaN at 24 h / unknown
    "hours_since_24h",  # hours between the two readings; NaN likewise
)
UPDATE_FEATURE_COLUMNS: tuple[str, ...] = (*PRE_POSTING_COLUMNS, *EARLY_VIEW_COLUMNS)
_PRE_POSTING_INDEX = np.array([FEATURE_COLUMNS.index(name) for name in PRE_POSTING_COLUMNS])
_NAN = float("nan")


@dataclass(frozen=True)
class EarlyViews:
    """What is known of a video's views when its update at `tier` is computed."""

    tier: EvaluationTier
    hours_observed: float
    views: int
    # The 24 h tier's reading, for a later tier; None at 24 h or when it was not observed.
    hours_24h: float | None = None
    views_24h: int | None = None


def early_view_columns(
    hours: Any, views: Any, hours_24h: Any = _NAN, views_24h: Any = _NAN
) -> dict[str, np.ndarray]:
    """EARLY_VIEW_COLUMNS from arrays (or scalars) of readings: the one computation both training
    and serving use. A NaN 24 h reading leaves the growth columns NaN."""
    hours, views = np.asarray(hours, dtype=float), np.asarray(views, dtype=float)
    hours_24h, views_24h = np.asarray(hours_24h, dtype=float), np.asarray(views_24h, dtype=float)
    log_views = np.log1p(np.maximum(views, 0.0))
    return {
        "hours_observed": hours,
        "log_views": log_views,
        "log_growth_since_24h": log_views - np.log1p(np.maximum(views_24h, 0.0)),
        "hours_since_24h": hours - hours_24h,
    }


def update_vector(raw: Mapping[str, Any], early: EarlyViews) -> np.ndarray:
    """UPDATE_FEATURE_COLUMNS (float64) of one prediction: its raw request columns (`RAW_COLUMNS`)
    and what its early views were."""
    pre_posting = feature_vector(raw)[_PRE_POSTING_INDEX]
    columns = early_view_columns(
        early.hours_observed,
        early.views,
        _NAN if early.hours_24h is None else early.hours_24h,
        _NAN if early.views_24h is None else early.views_24h,
    )
    return np.concatenate([pre_posting, [float(columns[name]) for name in EARLY_VIEW_COLUMNS]])


def _hours_since(posted_at: datetime, observed_at: datetime) -> float:
    return (as_utc(observed_at) - as_utc(posted_at)).total_seconds() / 3600


def observed_hours(tier: str, posted_at: datetime, observed_at: datetime) -> float:
    """The age of a tier's reading, kept within the tier's collection window (its age to 1.5 times
    it): a reading posted through the API may carry any clock, the model saw only these ages."""
    age = TIER_AGES[EvaluationTier(tier)].total_seconds() / 3600
    return float(min(max(_hours_since(posted_at, observed_at), age), 1.5 * age))


def early_views_at(
    tier: str, posted_at: datetime, outcomes: Sequence[Mapping[str, Any]]
) -> EarlyViews | None:
    """The early views an update at `tier` may read, from a prediction's outcome rows
    (`evaluation_tier`, `views`, `observed_at`); None when `tier` is not an update tier or its
    own reading is missing. Rows of later tiers are never read (the leakage rule)."""
    if tier not in UPDATE_TIERS:
        return None
    by_tier = {str(row["evaluation_tier"]): row for row in outcomes}
    own = by_tier.get(tier)
    if own is None:
        return None
    early = EarlyViews(
        tier=EvaluationTier(tier),
        hours_observed=observed_hours(tier, posted_at, own["observed_at"]),
        views=int(own["views"]),
    )
    first = by_tier.get(EvaluationTier.HOURS_24)
    if tier == EvaluationTier.HOURS_72 and first is not None:
        return EarlyViews(
            tier=early.tier,
            hours_observed=early.hours_observed,
            views=early.views,
            hours_24h=observed_hours(EvaluationTier.HOURS_24, posted_at, first["observed_at"]),
            views_24h=int(first["views"]),
        )
    return early


def update_model_name(model_name: str) -> str:
    """The registered (and published) name of the update model beside the champion's `model_name`."""
    return f"{model_name}_early_views"
