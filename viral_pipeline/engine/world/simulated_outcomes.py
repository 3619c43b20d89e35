"""Simulated stats of a predicted video, from the same generative model as the simulated source.

The video's settled plays follow engine/world/simulated.py: ln(plays) = mu + q + luck, with mu from
`expected_ln_plays` of what the prediction request says (creator followers and verified badge,
the sound's trend on the posting day, posting hour, duration, hashtags, caption length), q the
creator's hidden effect and luck the world's LUCK mixture. A creator handle of the simulated world
brings that creator's own q; any other creator's q is unknown, so it is drawn from the prior
N(0, CREATOR_QUALITY_SD^2). The draws come from a generator seeded by (world seed, video id): the
same video always has the same outcome. Views then grow with age towards the settled plays:

    views(age) = plays * (1 - exp(-age / tau)),   tau ~ U(12 h, 30 h) per video

so views at 24 h < 72 h < 7 d (about 99% settled by 7 days, so the 7-day label matches the
scraped days' labels). A request's probability of going viral is therefore the simulated
source's own (`p_above`): the oracle one for a world creator, the knowable one otherwise.
"""

from __future__ import annotations

import functools
import math
from datetime import date, datetime
from typing import Any

import numpy as np

from viral_pipeline.engine.calibration.outcomes import VideoStats
from viral_pipeline.engine.inputs.handles import handle_key
from viral_pipeline.engine.inputs.request import merge_hashtags
from viral_pipeline.engine.timeutil import as_utc as _utc
from viral_pipeline.engine.world.simulated import (
    CREATOR_QUALITY_SD,
    FOLLOWERS_MEDIAN,
    WORLD_SEED,
    expected_ln_plays,
    luck,
    p_above,
    sound_trend,
    world,
)

TAU_HOURS = (12.0, 30.0)
DELETED_SHARE = 0.01  # videos taken down before they are scraped: the source cannot find them


def views_at_age(plays: Any, age_hours: Any, tau_hours: Any) -> Any:
    """The world's view curve: plays * (1 - exp(-age / tau)), on scalars or arrays."""
    return plays * (1 - np.exp(-np.asarray(age_hours, dtype=float) / tau_hours))


def growth_tau(uniform: Any) -> Any:
    """tau (hours) of the view curve from a U(0, 1) draw: U(TAU_HOURS)."""
    return TAU_HOURS[0] + (TAU_HOURS[1] - TAU_HOURS[0]) * np.asarray(uniform, dtype=float)


@functools.lru_cache(maxsize=64)
def sound_trends_on(day: date, world_seed: int = WORLD_SEED) -> dict[str, float]:
    """{music id: trend in 0..1} of the simulated world's non-original sounds on `day`."""
    w = world(world_seed)
    cycle, trend = sound_trend(w, day)
    ids = (w.sound_base_id + cycle).tolist()
    return {str(music_id): float(t) for music_id, t in zip(ids, trend.tolist())}


def expected_ln_plays_of_request(
    payload: dict[str, Any], posted_at: datetime, *, world_seed: int = WORLD_SEED
) -> float:
    """mu of a prediction request's video in the simulated world."""
    creator = payload.get("creator") or {}
    sound = payload.get("sound") or {}
    followers = creator.get("followers")
    ln_f = (
        math.log(max(int(followers), 1)) if followers is not None else math.log(FOLLOWERS_MEDIAN)
    )  # the world's median creator
    posted_at = _utc(posted_at)
    original = bool(sound.get("original"))
    uses_trend = (
        0.0
        if original
        else sound_trends_on(posted_at.date(), world_seed).get(str(sound.get("id")), 0.0)
    )
    caption = str(payload.get("caption") or "")
    hashtags = merge_hashtags([str(t).lstrip("#") for t in payload.get("hashtags") or []], caption)
    mu = expected_ln_plays(
        ln_f=np.array([ln_f]),
        quality=0.0,
        uses_trend=np.array([uses_trend]),
        hour=np.array([posted_at.hour + posted_at.minute / 60]),
        duration=np.array([int(payload.get("duration_s") or 1)]),
        slideshow=np.array([False]),
        tag_count=np.array([len(hashtags)]),
        caption_len=np.array([float(len(caption))]),
        verified=np.array([bool(creator.get("verified"))]),
    )
    return float(mu[0])


def creator_quality(payload: dict[str, Any], *, world_seed: int = WORLD_SEED) -> float | None:
    """The hidden effect of the request's creator when the handle names a creator of the simulated
    world; None when it is unknown (then the prior applies)."""
    handle = handle_key(str((payload.get("creator") or {}).get("handle") or ""))
    w = world(world_seed)
    c = w.creator_of_handle(handle) if handle else None
    return None if c is None else float(w.quality[c])


def simulated_stats(
    video_id: str,
    payload: dict[str, Any],
    posted_at: datetime,
    now: datetime,
    *,
    world_seed: int = WORLD_SEED,
) -> VideoStats | None:
    """The video's stats as a scraper would see them at `now`; None when the source cannot find it
    (a deleted video, or one not posted yet)."""
    age_h = (_utc(now) - _utc(posted_at)).total_seconds() / 3600
    rng = np.random.default_rng([world_seed, 7, int(video_id)])
    eps, z_likes, z_comments, z_shares, z_quality = rng.standard_normal(5)
    tau_draw, deleted_draw, luck_draw = rng.random(3)
    if age_h < 0 or deleted_draw < DELETED_SHARE:
        return None
    quality = creator_quality(payload, world_seed=world_seed)
    quality = CREATOR_QUALITY_SD * float(z_quality) if quality is None else quality
    ln_plays = expected_ln_plays_of_request(payload, posted_at, world_seed=world_seed) + quality
    plays = math.exp(ln_plays + float(luck(np.array([eps]), np.array([luck_draw]))[0]))
    views = float(views_at_age(plays, age_h, growth_tau(tau_draw)))
    # Engagement ratios around the real medians, as in the simulated source; luck lifts likes too.
    likes = views * min(0.085 * math.exp(0.5 * z_likes + 0.1 * eps), 0.6)
    comments = views * 0.0013 * math.exp(0.9 * z_comments)
    shares = views * 0.0009 * math.exp(1.0 * z_shares)
    return VideoStats(
        video_id=video_id,
        views=round(views),
        likes=round(likes),
        comments=round(comments),
        shares=round(shares),
    )


def viral_probability(
    payload: dict[str, Any],
    posted_at: datetime,
    threshold_views: float,
    *,
    world_seed: int = WORLD_SEED,
) -> float:
    """The true probability that the request's video ends above `threshold_views` once settled
    (7 days: growth is then within 0.4% of its end), given it is found. For a creator of the
    simulated world it knows the creator's hidden effect (the oracle); for any other creator the
    effect is marginalised (the best knowable from the request). Benchmarks use it for the best
    reachable scores."""
    margin = expected_ln_plays_of_request(payload, posted_at, world_seed=world_seed) - math.log(
        max(threshold_views, 1.0)
    )
    quality = creator_quality(payload, world_seed=world_seed)
    if quality is None:
        return float(p_above(margin, CREATOR_QUALITY_SD))
    return float(p_above(margin + quality))
