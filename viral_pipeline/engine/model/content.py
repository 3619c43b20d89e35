"""Content features: what a video says and how much its hashtags were used lately.

- word_bucket_00..: a hashed bag of the distinct words of the caption, the hook and the hashtags
  (lowercased `\\w+` tokens, so "#Pasta" and "pasta" are one word). Each token goes to one of
  N_WORD_BUCKETS buckets by zlib.crc32 of its UTF-8 text: stable across processes, machines and
  Python versions (unlike the salted `hash`), so a training run and a predict run put a word in
  the same column without storing a vocabulary. Scraped videos have no hook: their bag reads the
  caption and hashtags, and a request's hook words count as words of its text.
- hashtag_prior_videos_max / hashtag_prior_videos_mean_log: over the video's topic hashtags
  (GENERIC_TAGS left out: everybody uses them), the most videos any of them was on in the
  USE_LOOKBACK_DAYS before the video, and the mean of log1p of those counts; NaN without a topic
  hashtag.

Sound originality is a request feature already (feature_row.py's `sound_original`). A count of
earlier videos with the same sound was measured and left out: it changed nothing on the real
2020 videos and nothing (or worse) on the simulated world (bench/README.md).

Leakage rule of the hashtag use counts, the same for a training row and a served request: only videos
posted strictly before the scored one (a tie is not earlier) and at most USE_LOOKBACK_DAYS
before it; a video posted later never moves them. Training counts the assembled rows, serving
the app database's `scraped_videos` (store/content_uses.py).

numpy and the standard library only: a `predict` run imports this (no pandas there).
"""

from __future__ import annotations

import math
import re
import zlib
from collections.abc import Iterable, Mapping, Sequence

import numpy as np

N_WORD_BUCKETS = 32
WORD_COLUMNS: tuple[str, ...] = tuple(f"word_bucket_{k:02d}" for k in range(N_WORD_BUCKETS))
USE_COLUMNS: tuple[str, ...] = ("hashtag_prior_videos_max", "hashtag_prior_videos_mean_log")
CONTENT_COLUMNS: tuple[str, ...] = (*WORD_COLUMNS, *USE_COLUMNS)
USE_LOOKBACK_DAYS = 7
LOOKBACK_S = USE_LOOKBACK_DAYS * 86_400
# Tags people add for reach rather than topic.
GENERIC_TAGS = frozenset({"fyp", "foryou", "foryoupage", "viral", "fy", "trending"})
_TOKEN = re.compile(r"\w+", re.UNICODE)
_NAN = float("nan")


def word_bucket(token: str) -> int:
    """The bucket of one (lowercased) token."""
    return zlib.crc32(token.encode("utf-8")) % N_WORD_BUCKETS


def tokens(*texts: str | None, hashtags: Iterable[str] = ()) -> set[str]:
    """The distinct lowercased words of the texts and hashtags."""
    found = {t for text in texts if text for t in _TOKEN.findall(text.lower())}
    found.update(t for tag in hashtags for t in _TOKEN.findall(str(tag).lower()))
    return found


def word_counts(*texts: str | None, hashtags: Iterable[str] = ()) -> np.ndarray:
    """WORD_COLUMNS of one video: distinct tokens per bucket."""
    out = np.zeros(N_WORD_BUCKETS)
    for token in tokens(*texts, hashtags=hashtags):
        out[word_bucket(token)] += 1.0
    return out


def topic_tags(hashtags: Iterable[str]) -> list[str]:
    """The video's hashtags as stored (lowercase, without '#'), each once, generic ones left out."""
    names = (str(tag).strip().lstrip("#").lower() for tag in hashtags)
    return [name for name in dict.fromkeys(names) if name and name not in GENERIC_TAGS]


def use_figures(tag_uses: Mapping[str, int], tags: Sequence[str]) -> dict[str, float]:
    """USE_COLUMNS of one video from its counts (`tag_uses` per topic tag, absent = 0)."""
    counts = [tag_uses.get(tag, 0) for tag in tags]
    if not counts:
        return dict.fromkeys(USE_COLUMNS, _NAN)
    mean_log = sum(math.log1p(c) for c in counts) / len(counts)
    return dict(zip(USE_COLUMNS, (float(max(counts)), mean_log)))


def _earlier_in_lookback(codes: np.ndarray, seconds: np.ndarray) -> np.ndarray:
    """For each (code, time) entry: how many entries of the same code are in
    [time - LOOKBACK_S, time). Codes are non-negative ints; one sort, two binary searches."""
    times = seconds - (seconds.min() if len(seconds) else 0)
    span = np.int64(1) << 40  # more seconds than any span of posting times
    keys = codes * span + times
    ordered = np.sort(keys)
    since = codes * span + np.maximum(times - LOOKBACK_S, 0)
    return np.searchsorted(ordered, keys, side="left") - np.searchsorted(
        ordered, since, side="left"
    )


def use_arrays(posted_s: np.ndarray, hashtags: Sequence[Sequence[str]]) -> np.ndarray:
    """USE_COLUMNS (n x 2, float64) of every video, from the other rows (`posted_s`: epoch seconds)."""
    n = len(posted_s)
    seconds = np.floor(np.asarray(posted_s, dtype=float)).astype(np.int64)
    out = np.full((n, len(USE_COLUMNS)), np.nan)
    lists = [topic_tags(tags) for tags in hashtags]
    rows = np.repeat(np.arange(n), [len(tags) for tags in lists])
    if not len(rows):
        return out
    _, codes = np.unique(
        np.array([t for tags in lists for t in tags], dtype=str), return_inverse=True
    )
    counts = _earlier_in_lookback(codes.astype(np.int64), seconds[rows]).astype(float)
    per_video = np.bincount(rows, minlength=n)
    tagged = per_video > 0
    maxima = np.full(n, -np.inf)
    np.maximum.at(maxima, rows, counts)
    out[tagged, 0] = maxima[tagged]
    out[tagged, 1] = np.bincount(rows, np.log1p(counts), minlength=n)[tagged] / per_video[tagged]
    return out
