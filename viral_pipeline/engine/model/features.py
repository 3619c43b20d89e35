"""Model features of a video, from what is known before it is posted.

`build_features` turns raw columns (RAW_COLUMNS) into the model's numeric input (FEATURE_COLUMNS),
the same way for a training set of many rows and for a single prediction request. Outcomes
(plays, likes, comments, shares) are never read: they do not exist before posting.

Unknown values stay NaN (followers, log_followers, follower_tier, verified): the model pipeline
imputes them and adds "was missing" flags, so an unknown count is never mistaken for a small one.

Hashtag names enter through a hashing trick: each tag goes to one of N_HASH_BUCKETS buckets by
zlib.crc32 of its UTF-8 name (stable across processes and versions, unlike Python's salted
`hash`), and each bucket counts the video's tags that fall in it.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

# The shared definitions live in feature_row (which `predict` runs import without pandas).
from viral_pipeline.engine.model.content import USE_COLUMNS, WORD_COLUMNS, word_counts
from viral_pipeline.engine.model.creator_history import HISTORY_COLUMNS
from viral_pipeline.engine.model.feature_row import BUCKET_COLUMNS as _BUCKET_COLUMNS
from viral_pipeline.engine.model.feature_row import (
    FEATURE_COLUMNS,
    GENERIC_TAGS,
    N_HASH_BUCKETS,
    RAW_COLUMNS,
    REQUEST_FEATURE_COLUMNS,
    TIER_LOWER_BOUNDS,
    hashtag_bucket,
)

__all__ = [
    "FEATURE_COLUMNS",
    "GENERIC_TAGS",
    "N_HASH_BUCKETS",
    "RAW_COLUMNS",
    "REQUEST_FEATURE_COLUMNS",
    "build_features",
    "hashtag_bucket",
]
_TIER_LOWER_BOUNDS = np.array(TIER_LOWER_BOUNDS, dtype=float)


def _flag(values: pd.Series) -> np.ndarray:
    """True/False (or 1/0) to 1.0/0.0; None, NaN and pd.NA to NaN."""
    return values.astype(object).map({True: 1.0, False: 0.0}).to_numpy(dtype=float)


def _as_list(value: object) -> list:
    if isinstance(value, (list, tuple, np.ndarray)):
        return list(value)
    if value is None or value is pd.NA or (isinstance(value, float) and np.isnan(value)):
        return []  # a missing list counts as no tags
    raise TypeError(
        f"hashtags must be a list of names per row, not {type(value).__name__}: {value!r}"
    )


def _hashtag_features(hashtags: pd.Series) -> dict[str, np.ndarray]:
    n = len(hashtags)
    lists = [_as_list(v) for v in hashtags.tolist()]
    # One entry per (video, tag): the video's position and the tag's normalised name.
    positions = np.repeat(np.arange(n), [len(tags) for tags in lists])
    names = [str(tag).strip().lstrip("#").lower() for tags in lists for tag in tags]
    counts = np.zeros((n, N_HASH_BUCKETS))
    generic = np.zeros(n)
    if names:
        buckets = np.fromiter(map(hashtag_bucket, names), dtype=np.int64, count=len(names))
        np.add.at(counts, (positions, buckets), 1.0)
        np.add.at(
            generic,
            positions,
            np.fromiter((t in GENERIC_TAGS for t in names), dtype=float, count=len(names)),
        )
    features = {"hashtag_count": counts.sum(axis=1), "generic_tag_count": generic}
    features.update(zip(_BUCKET_COLUMNS, counts.T))
    return features


def _word_bags(caption: pd.Series, raw: pd.DataFrame) -> np.ndarray:
    hooks = raw["hook"].tolist() if "hook" in raw.columns else [None] * len(raw)
    bags = np.zeros((len(raw), len(WORD_COLUMNS)))
    for row, (text, hook, tags) in enumerate(zip(caption.tolist(), hooks, raw["hashtags"])):
        bags[row] = word_counts(
            text, hook if isinstance(hook, str) else None, hashtags=map(str, _as_list(tags))
        )
    return bags


def _follower_tier(followers: np.ndarray) -> np.ndarray:
    tier = np.searchsorted(_TIER_LOWER_BOUNDS, followers, side="right") - 1.0
    return np.where(np.isnan(followers), np.nan, np.maximum(tier, 0.0))


def _numbers(values: pd.Series) -> np.ndarray:
    return pd.to_numeric(values.astype(object), errors="coerce").to_numpy(dtype=float)


def build_features(raw: pd.DataFrame) -> pd.DataFrame:
    """One row of FEATURE_COLUMNS (float64) per row of `raw`, with the same index. The creator
    history columns (creator_history.py) and the content use columns (content.py) are copied
    when `raw` has them, else NaN (unknown); a `hook` column, when present, joins the word bag."""
    missing = [c for c in RAW_COLUMNS if c not in raw.columns]
    if missing:
        raise ValueError(
            f"build_features needs the columns {list(RAW_COLUMNS)}; missing: {missing}"
        )
    caption = raw["caption"].fillna("").astype(str)
    features: dict[str, np.ndarray] = {
        "caption_chars": caption.str.len().to_numpy(dtype=float),
        # Counted without materialising every word list (that held ~1 GiB at 1M captions).
        "caption_words": np.fromiter(
            (len(text.split()) for text in caption), dtype=float, count=len(caption)
        ),
    }
    features.update(_hashtag_features(raw["hashtags"]))

    sound_original = _flag(raw["sound_original"])
    features["has_sound"] = (~np.isnan(sound_original)).astype(float)
    features["sound_original"] = np.nan_to_num(sound_original, nan=0.0)
    features["sound_trend_score"] = np.nan_to_num(_numbers(raw["sound_trend_score"]), nan=0.0)
    features["duration_s"] = _numbers(raw["duration_s"])
    features["is_slideshow"] = np.nan_to_num(_flag(raw["is_slideshow"]), nan=0.0)

    followers = _numbers(raw["followers"])
    followers = np.where(followers >= 0, followers, np.nan)  # a negative count is not a count
    features["follower_tier"] = _follower_tier(followers)
    features["log_followers"] = np.log1p(followers)
    features["verified"] = _flag(raw["verified"])

    posted = pd.to_datetime(raw["posted_at"], utc=True).dt
    hours = posted.hour.to_numpy(dtype=float)
    fractional = (
        hours
        + posted.minute.to_numpy(dtype=float) / 60
        + posted.second.to_numpy(dtype=float) / 3600
    )
    features["weekday"] = posted.day_of_week.to_numpy(dtype=float)
    features["hour"] = hours
    features["hour_sin"] = np.sin(2 * np.pi * fractional / 24)
    features["hour_cos"] = np.cos(2 * np.pi * fractional / 24)
    for name in (*HISTORY_COLUMNS, *USE_COLUMNS):
        features[name] = _numbers(raw[name]) if name in raw.columns else np.full(len(raw), np.nan)
    features.update(zip(WORD_COLUMNS, _word_bags(caption, raw).T))
    return pd.DataFrame(features, index=raw.index, columns=list(FEATURE_COLUMNS), dtype=np.float64)
