"""The model's features for one request, without pandas.

A `predict` run is a new process for every request, and what it imports is paid each time:
pandas costs about 0.25 s to import, scikit-learn about a second. This module computes exactly
what `viral_pipeline.engine.model.features.build_features` computes, for a single row, with the
standard library and numpy only; a test checks both agree on thousands of rows.

It also owns the definitions both share (columns, hashtag buckets), so they cannot drift apart.
"""

from __future__ import annotations

import math
import zlib
from bisect import bisect_right
from collections.abc import Mapping
from typing import Any

import numpy as np

from viral_pipeline.engine.inputs.creators import FOLLOWER_TIERS
from viral_pipeline.engine.model.content import (
    CONTENT_COLUMNS,
    GENERIC_TAGS,
    USE_COLUMNS,
    WORD_COLUMNS,
    word_counts,
)
from viral_pipeline.engine.model.creator_history import HISTORY_COLUMNS
from viral_pipeline.engine.timeutil import parse_utc

RAW_COLUMNS: tuple[str, ...] = (
    "caption",
    "hashtags",
    "sound_original",
    "sound_trend_score",
    "duration_s",
    "is_slideshow",
    "followers",
    "verified",
    "posted_at",
)
N_HASH_BUCKETS = 16
BUCKET_COLUMNS = tuple(f"tag_bucket_{k:02d}" for k in range(N_HASH_BUCKETS))
TIER_LOWER_BOUNDS: tuple[float, ...] = tuple(float(lower) for _, lower in FOLLOWER_TIERS)

# The features of the request itself; a champion trained before creator history existed reads
# exactly these, and the creator history columns (creator_history.py) follow them, then the
# content columns (content.py): a champion trained before a group existed reads the columns
# before it.
REQUEST_FEATURE_COLUMNS: tuple[str, ...] = (
    "caption_chars",
    "caption_words",
    "hashtag_count",
    "generic_tag_count",
    *BUCKET_COLUMNS,
    "has_sound",
    "sound_original",
    "sound_trend_score",
    "duration_s",
    "is_slideshow",
    "follower_tier",  # ordinal 0 (starter) .. 4 (mega); NaN when followers are unknown
    "log_followers",  # log1p(followers); NaN when unknown
    "verified",  # 1/0; NaN when unknown
    "weekday",  # 0 = Monday, UTC
    "hour",  # 0..23, UTC
    "hour_sin",  # of the fractional UTC hour, so 23:59 sits next to 00:00
    "hour_cos",
)
FEATURE_COLUMNS: tuple[str, ...] = (*REQUEST_FEATURE_COLUMNS, *HISTORY_COLUMNS, *CONTENT_COLUMNS)
_INDEX = {name: i for i, name in enumerate(FEATURE_COLUMNS)}
_NAN = float("nan")

_bucket_cache: dict[str, int] = {}


def hashtag_bucket(tag: str) -> int:
    """The bucket of a hashtag name (case and a leading '#' ignored)."""
    key = tag.strip().lstrip("#").lower()
    bucket = _bucket_cache.get(key)
    if bucket is None:
        bucket = _bucket_cache[key] = zlib.crc32(key.encode("utf-8")) % N_HASH_BUCKETS
    return bucket


_FLAG_TYPES = (bool, int, float, np.bool_, np.integer, np.floating)


def _flag(value: Any) -> float:
    """True/False (or 1/0) to 1.0/0.0; anything else (None, NaN) to NaN, as build_features maps them."""
    if isinstance(value, _FLAG_TYPES) and value in (0, 1):
        return float(value == 1)
    return _NAN


def _number(value: Any) -> float:
    if value is None or isinstance(value, bool):
        return float(value) if isinstance(value, bool) else _NAN
    try:
        return float(value)
    except (TypeError, ValueError):
        return _NAN


def feature_vector(raw: Mapping[str, Any]) -> np.ndarray:
    """FEATURE_COLUMNS (float64) of one row of raw columns (`RAW_COLUMNS`, plus the creator
    history and content use columns when known: absent ones are NaN; and the `hook` text, if any)."""
    missing = [c for c in RAW_COLUMNS if c not in raw]
    if missing:
        raise ValueError(
            f"feature_vector needs the columns {list(RAW_COLUMNS)}; missing: {missing}"
        )
    out = np.zeros(len(FEATURE_COLUMNS))
    caption = "" if raw["caption"] is None else str(raw["caption"])
    out[_INDEX["caption_chars"]] = len(caption)
    out[_INDEX["caption_words"]] = len(caption.split())

    hashtags = raw["hashtags"]
    if hashtags is None or (isinstance(hashtags, float) and math.isnan(hashtags)):
        hashtags = []
    if not isinstance(hashtags, (list, tuple, np.ndarray)):
        raise TypeError(
            f"hashtags must be a list of names, not {type(hashtags).__name__}: {hashtags!r}"
        )
    first_bucket = _INDEX[BUCKET_COLUMNS[0]]
    for tag in hashtags:
        name = str(tag).strip().lstrip("#").lower()
        out[first_bucket + hashtag_bucket(name)] += 1.0
        out[_INDEX["generic_tag_count"]] += name in GENERIC_TAGS
    out[_INDEX["hashtag_count"]] = len(hashtags)

    sound_original = _flag(raw["sound_original"])
    out[_INDEX["has_sound"]] = 0.0 if math.isnan(sound_original) else 1.0
    out[_INDEX["sound_original"]] = 0.0 if math.isnan(sound_original) else sound_original
    trend = _number(raw["sound_trend_score"])
    out[_INDEX["sound_trend_score"]] = 0.0 if math.isnan(trend) else trend
    out[_INDEX["duration_s"]] = _number(raw["duration_s"])
    slideshow = _flag(raw["is_slideshow"])
    out[_INDEX["is_slideshow"]] = 0.0 if math.isnan(slideshow) else slideshow

    followers = _number(raw["followers"])
    if math.isnan(followers) or followers < 0:  # a negative count is not a count
        out[_INDEX["follower_tier"]] = out[_INDEX["log_followers"]] = _NAN
    else:
        out[_INDEX["follower_tier"]] = max(bisect_right(TIER_LOWER_BOUNDS, followers) - 1.0, 0.0)
        out[_INDEX["log_followers"]] = math.log1p(followers)
    out[_INDEX["verified"]] = _flag(raw["verified"])

    try:
        posted = parse_utc(raw["posted_at"])
    except TypeError:
        raise TypeError(
            f"posted_at must be a datetime or ISO-8601 text, not {type(raw['posted_at']).__name__}"
        ) from None
    fractional = posted.hour + posted.minute / 60 + posted.second / 3600
    out[_INDEX["weekday"]] = posted.weekday()
    out[_INDEX["hour"]] = posted.hour
    out[_INDEX["hour_sin"]] = math.sin(2 * math.pi * fractional / 24)
    out[_INDEX["hour_cos"]] = math.cos(2 * math.pi * fractional / 24)
    for name in (*HISTORY_COLUMNS, *USE_COLUMNS):
        out[_INDEX[name]] = _number(raw.get(name))
    first_word = _INDEX[WORD_COLUMNS[0]]
    out[first_word : first_word + len(WORD_COLUMNS)] = word_counts(
        caption, raw.get("hook"), hashtags=map(str, hashtags)
    )
    return out
