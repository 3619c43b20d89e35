"""Creator history: what a creator's own earlier videos say about the next one.

Leakage rule, the same for a training row and a served request: a video's history reads only the
creator's videos posted strictly before it (`posted_at` earlier, a tie is not earlier), and their
viral rate reads only those whose label window closed before the video's own window opened, so
a window's threshold is made of videos all posted before it. Adding or changing a video posted
later never moves these figures. Plays of earlier videos are their plays as last scraped.

- creator_prior_videos: how many earlier videos the creator has in `scraped_videos`;
- creator_prior_mean_log_plays / creator_prior_median_log_plays: of log1p(plays) of those;
- creator_prior_viral_rate: share of them labelled viral (labels.py's rule), NaN when none is
  in a closed window;
- creator_days_since_previous: days since the latest earlier video, NaN without one;
- creator_no_history: 1 when the creator has no earlier video, else 0.

numpy and the standard library only: a `predict` run imports this (no pandas there).
"""

from __future__ import annotations

import math
from bisect import bisect_left
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

import numpy as np

from viral_pipeline.engine.timeutil import as_utc

HISTORY_COLUMNS: tuple[str, ...] = (
    "creator_prior_videos",
    "creator_prior_mean_log_plays",
    "creator_prior_median_log_plays",
    "creator_prior_viral_rate",
    "creator_days_since_previous",
    "creator_no_history",
)
_DAY_S = 86_400.0
_NAN = float("nan")


@dataclass(frozen=True)
class PriorVideo:
    """One earlier video of the creator, as the serving query reads it."""

    posted_at: datetime
    plays: int
    window_videos: int  # videos posted in its label window
    window_below: int  # of those, how many have fewer plays


def window_start_s(posted_s: np.ndarray | float, window_days: int) -> np.ndarray:
    """Start (epoch seconds) of the label window of each posting time (windows from 1970-01-01)."""
    days = np.floor(np.asarray(posted_s, dtype=float) / _DAY_S)
    return (days - days % window_days) * _DAY_S


def is_top_quantile(window_below: int, window_videos: int, quantile: float) -> bool:
    """labels.py's rule from counts: plays strictly above the linear `quantile` quantile of the
    window's plays exactly when more than floor((n - 1) * quantile) of them are smaller."""
    if window_videos < 1:
        return False
    return window_below >= math.floor((window_videos - 1) * quantile) + 1


def history_arrays(
    creator: np.ndarray,
    posted_s: np.ndarray,
    plays: np.ndarray,
    viral: np.ndarray,
    window_days: int,
) -> np.ndarray:
    """HISTORY_COLUMNS (n x 6, float64) of every video, from the other rows of the same creator.

    `posted_s`: posting times in epoch seconds; `viral`: each video's 0/1 label."""
    n = len(posted_s)
    out = np.full((n, len(HISTORY_COLUMNS)), np.nan)
    posted_s = np.asarray(posted_s, dtype=float)
    log_plays = np.log1p(np.asarray(plays, dtype=float))
    viral = np.asarray(viral, dtype=float)
    opens = window_start_s(posted_s, window_days)
    order = np.lexsort((posted_s, np.asarray(creator)))
    keys = np.asarray(creator)[order]
    bounds = np.flatnonzero(np.r_[True, keys[1:] != keys[:-1], True])
    for first, last in zip(bounds[:-1], bounds[1:]):
        rows = order[first:last]
        times, logs, labels = posted_s[rows], log_plays[rows], viral[rows]
        sums = np.r_[0.0, np.cumsum(logs)]
        label_sums = np.r_[0.0, np.cumsum(labels)]
        earlier = np.searchsorted(times, times, side="left")
        closed = np.searchsorted(times, opens[rows], side="left")
        for k, row in enumerate(rows):
            j, c = earlier[k], closed[k]
            out[row] = _figures(
                j,
                sums[j] / j if j else _NAN,
                float(np.median(logs[:j])) if j else _NAN,
                label_sums[c] / c if c else _NAN,
                (times[k] - times[j - 1]) / _DAY_S if j else _NAN,
            )
    return out


def _figures(
    count: int, mean: float, median: float, viral_rate: float, days_since: float
) -> list[float]:
    return [float(count), mean, median, viral_rate, days_since, float(count == 0)]


class PriorHistory:
    """A creator's stored videos, sorted once: `at(posted_at)` is `history_of` at any posting
    time, a bisection each (the what-if suggestions ask it for 48 posting hours)."""

    def __init__(self, prior: Sequence[PriorVideo], *, quantile: float, window_days: int) -> None:
        ordered = sorted(prior, key=lambda v: as_utc(v.posted_at).timestamp())
        self._times = [as_utc(v.posted_at).timestamp() for v in ordered]
        self._logs = [math.log1p(max(v.plays, 0)) for v in ordered]
        self._viral = [is_top_quantile(v.window_below, v.window_videos, quantile) for v in ordered]
        self._window_days = window_days

    def at(self, posted_at: datetime) -> dict[str, float]:
        """HISTORY_COLUMNS of a video posted at `posted_at` (only videos strictly earlier)."""
        posted = as_utc(posted_at).timestamp()
        j = bisect_left(self._times, posted)
        # The window opens at or before the posting time: its closed videos are earlier ones.
        closed = bisect_left(self._times, float(window_start_s(posted, self._window_days)))
        logs, viral = self._logs[:j], self._viral[:closed]
        figures = _figures(
            j,
            math.fsum(logs) / j if j else _NAN,
            float(np.median(logs)) if j else _NAN,
            sum(viral) / len(viral) if viral else _NAN,
            (posted - self._times[j - 1]) / _DAY_S if j else _NAN,
        )
        return dict(zip(HISTORY_COLUMNS, figures))


def history_of(
    prior: Sequence[PriorVideo], posted_at: datetime, *, quantile: float, window_days: int
) -> dict[str, float]:
    """HISTORY_COLUMNS of a video posted at `posted_at`, from the creator's stored videos (any
    not strictly earlier are left out here too, so a caller cannot leak them)."""
    return PriorHistory(prior, quantile=quantile, window_days=window_days).at(posted_at)
