"""What a predicted video actually did: evaluation tiers, and its viral label.

An outcome is observed at a tier (24 h, 72 h or 7 days after posting). Its label follows the
training label exactly (engine/model/labels.py): viral means views strictly above the `quantile`
quantile (numpy's linear interpolation) of the plays of the scraped videos posted in the same
UTC window (`window_days` days, counted from 1970-01-01). The threshold and a readable definition
are recorded with each outcome, so a label can be checked later even after more scrapes.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from enum import StrEnum
from typing import Any
from urllib.parse import urlsplit

from viral_pipeline.engine.inputs.items import VideoRecord, parse_item
from viral_pipeline.engine.timeutil import as_utc as _utc
from viral_pipeline.engine.timeutil import parse_utc

# pandas (and the training label's code, which uses it) is imported by the functions that compute
# a threshold: settings and predict runs read the tiers, and a predict run must stay light.


class EvaluationTier(StrEnum):
    """When an outcome is observed: the API's `evaluation_tier`, CALIBRATION_TIER and the
    `outcomes.evaluation_tier` column take these values."""

    HOURS_24 = "24h"
    HOURS_72 = "72h"
    DAYS_7 = "7d"


TIER_AGES: dict[EvaluationTier, timedelta] = {
    EvaluationTier.HOURS_24: timedelta(hours=24),
    EvaluationTier.HOURS_72: timedelta(hours=72),
    EvaluationTier.DAYS_7: timedelta(days=7),
}
TIERS: tuple[EvaluationTier, ...] = tuple(EvaluationTier)
# A scraper reads *current* views, so a tier is collected automatically only until age * 1.5
# (36 h, 108 h, 10.5 days): a 24 h outcome read on day 5 would overstate it. Later, the tier is
# counted as expired; a backend can still post it through the API.
COLLECTION_WINDOW_FACTOR = 1.5

# A quantile of fewer plays than this is too noisy to be the threshold: the posting window then
# borrows the threshold of the most recent earlier window that has enough (recorded as such).
MIN_THRESHOLD_VIDEOS = 100

_TIKTOK_HOSTS = ("tiktok.com", "www.tiktok.com", "m.tiktok.com", "vm.tiktok.com", "vt.tiktok.com")
_VIDEO_PATH = re.compile(r"/video/([0-9]{1,32})(?:/|$)")
# The video URLs a caller may send, as the OpenAPI document shows them: a subset of what
# `video_id_from_url` reads, in printable ASCII (a URL's other characters are percent-encoded).
TIKTOK_VIDEO_URL_PATTERN = (
    r"^https?://(?:(?:www|m|vm|vt)\.)?tiktok\.com/(?:@[A-Za-z0-9._]*/)?video/[0-9]{1,32}"
    r"(?:[/?#][!-~]*)?$"
)


def tier_age(tier: str) -> timedelta:
    try:
        return TIER_AGES[EvaluationTier(tier)]
    except ValueError:
        raise ValueError(
            f"unknown evaluation tier {tier!r}: expected one of {', '.join(TIERS)}"
        ) from None


def is_due(tier: str, posted_at: datetime, now: datetime) -> bool:
    """A tier is due once the video is at least that old: posted_at + age <= now."""
    return _utc(posted_at) + tier_age(tier) <= _utc(now)


def due_tiers(posted_at: datetime, now: datetime) -> list[str]:
    return [tier for tier in TIERS if is_due(tier, posted_at, now)]


def closes_at(tier: str, posted_at: datetime) -> datetime:
    """The end of a tier's collection window: views read later than this no longer describe the tier."""
    return _utc(posted_at) + tier_age(tier) * COLLECTION_WINDOW_FACTOR


def collectable_tiers(posted_at: datetime, now: datetime) -> list[str]:
    """Tiers due and still open at `now` (at most one: the windows do not overlap)."""
    return [tier for tier in due_tiers(posted_at, now) if _utc(now) < closes_at(tier, posted_at)]


def prediction_posted_at(payload: dict[str, Any], created_at: datetime) -> datetime:
    """When the predicted video was (or will be) posted.

    The request's `posted_at` when it gave one; otherwise the request's creation time, which is
    what the prediction itself assumed (a missing posted_at is normalised to "now").
    """
    value = payload.get("posted_at")
    if value:
        return parse_utc(str(value))
    return _utc(created_at)


def video_id_from_url(url: str) -> str | None:
    """The numeric id in a TikTok video URL (`https://www.tiktok.com/@handle/video/<digits>`)."""
    parts = urlsplit(url.strip())
    if parts.scheme not in ("http", "https") or (parts.hostname or "").lower() not in _TIKTOK_HOSTS:
        return None
    match = _VIDEO_PATH.search(parts.path)
    return match.group(1) if match else None


def video_url_for(video_id: str) -> str:
    """A URL TikTok resolves by id alone (the handle part may be empty), for scrapers that need one."""
    return f"https://www.tiktok.com/@/video/{video_id}"


@dataclass(frozen=True, slots=True)
class ViralThreshold:
    views: float
    quantile: float
    window: date  # first day of the window whose plays gave the threshold
    window_days: int
    n_videos: int
    posting_window: date  # the window of the video being labelled (differs on a fallback)

    @property
    def is_fallback(self) -> bool:
        return self.window != self.posting_window

    def definition(self) -> str:
        """e.g. "views > q0.90 of plays of videos posted 2026-11-28 UTC (n=2000)"."""
        if self.window_days == 1:
            span = self.window.isoformat()
        else:
            span = f"{self.window.isoformat()}..{(self.window + timedelta(days=self.window_days - 1)).isoformat()}"
        text = (
            f"views > q{self.quantile:.2f} of plays of videos posted {span} UTC (n={self.n_videos})"
        )
        if self.is_fallback:
            text += (
                f"; fallback: the posting window {self.posting_window.isoformat()} had fewer than "
                f"{MIN_THRESHOLD_VIDEOS} scraped videos"
            )
        return text

    def is_viral(self, views: int) -> bool:
        return (
            views > self.views
        )  # strictly above: ties at the threshold are not viral, as in training


def posting_window(posted_at: datetime, window_days: int = 1) -> date:
    """The first day of the label window the video falls in (same windows as the training label)."""
    import pandas as pd

    from viral_pipeline.engine.model.labels import window_key

    key = window_key(pd.Series([pd.Timestamp(_utc(posted_at))]), window_days).iloc[0]
    return date.fromisoformat(key)


def window_bounds(window: date, window_days: int) -> tuple[datetime, datetime]:
    start = datetime(window.year, window.month, window.day, tzinfo=UTC)
    return start, start + timedelta(days=window_days)


def viral_threshold(
    plays: Sequence[int], *, window: date, posting: date, quantile: float, window_days: int = 1
) -> ViralThreshold:
    """The threshold of a window from its videos' plays, computed by the training label's own code."""
    import pandas as pd

    from viral_pipeline.engine.model.labels import label_top_decile

    if not plays:
        raise ValueError(f"no plays in window {window.isoformat()}: no threshold")
    values = pd.Series(list(plays), dtype=float)
    _labels, thresholds = label_top_decile(
        values, pd.Series([window.isoformat()] * len(values)), quantile
    )
    return ViralThreshold(
        views=thresholds[window.isoformat()],
        quantile=quantile,
        window=window,
        window_days=window_days,
        n_videos=len(values),
        posting_window=posting,
    )


@dataclass(frozen=True, slots=True)
class VideoToCollect:
    """A predicted video whose stats a scraper source is asked for."""

    video_id: str
    video_url: str | None
    posted_at: datetime
    payload: dict[
        str, Any
    ]  # the prediction request's body (the simulated source derives views from it)


@dataclass(frozen=True, slots=True)
class VideoStats:
    video_id: str
    views: int
    likes: int | None = None
    comments: int | None = None
    shares: int | None = None


def stats_from_items(items: Iterable[Any], *, now: datetime | None = None) -> dict[str, VideoStats]:
    """{video id: stats} from scraper items (the ingest parser); items it rejects are skipped."""
    found: dict[str, VideoStats] = {}
    for item in items:
        record = parse_item(item, now=now)
        if isinstance(record, VideoRecord):
            found[record.video_id] = VideoStats(
                video_id=record.video_id,
                views=record.play_count,
                likes=record.like_count,
                comments=record.comment_count,
                shares=record.share_count,
            )
    return found
