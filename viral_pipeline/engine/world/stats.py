"""Statistics of a labelled-video sample, to set a simulated world beside a real sample.

`world_statistics` reads a frame with the columns of `store.training.load_labelled_videos`
(video_id, author_id, posted_at, play_count, sound_original, followers, ...) and, when present, a
`music_id` column (None for no sound). Labels are the project's own: top decile of plays per UTC
posting day (`engine.model.labels`). REAL_TARGETS are the same statistics measured on a real sample of
about 10,000 TikTok trending-feed videos (2025, one country, about 90 posting days).
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
from scipy.stats import spearmanr

from viral_pipeline.engine.model.labels import label_top_decile, window_key
from viral_pipeline.engine.world.simulated import roc_auc

REAL_TARGETS: dict[str, float] = {
    "spearman_followers_views": 0.20,
    "views_p10": 700_000,
    "views_p50": 2_100_000,
    "views_p90": 7_600_000,
    "views_p99": 32_000_000,
    "followers_p10": 2_000,
    "followers_p50": 81_000,
    "followers_p90": 2_200_000,
    "creators_once": 0.80,  # share of creators with one video in the sample
    "creators_3plus": 0.10,  # share of creators with three or more
    "videos_by_3plus_creators": 0.31,  # share of videos posted by those
    "videos_with_earlier": 0.32,  # share of videos whose creator has earlier videos in the sample
    "original_sound": 0.39,  # share of videos with a sound that use an original one
    "shared_sound": 0.31,  # share of videos whose sound another video of the sample uses too
    "follower_auc": 0.59,  # ROC AUC of follower count for the top-decile label
    "history_auc": 0.69,  # mean ln(views) of the creator's earlier videos, on videos that have some
    "history_follower_auc": 0.61,  # follower count on those same videos
}


def earlier_mean_ln_views(frame: pd.DataFrame) -> pd.Series:
    """Per video, the mean ln(plays) of its creator's videos posted strictly earlier (NaN if none)."""
    order = frame.sort_values(["posted_at", "video_id"], kind="stable")
    ln_views = np.log(order["play_count"].clip(lower=1).astype(float))
    by_author = ln_views.groupby(order["author_id"])
    # Earlier videos only: the running sum and count before this row, less same-instant rows.
    total, count = by_author.cumsum() - ln_views, by_author.cumcount().astype(float)
    same = order.groupby(["author_id", "posted_at"]).cumcount()
    total -= ln_views.groupby([order["author_id"], order["posted_at"]]).cumsum() - ln_views
    count -= same
    return (total / count.where(count > 0)).reindex(frame.index)


def world_statistics(frame: pd.DataFrame) -> dict[str, float]:
    """The statistics of REAL_TARGETS for this sample (NaN where a column is missing)."""
    plays = frame["play_count"].astype(float).to_numpy()
    followers = frame["followers"].astype(float).to_numpy()
    known = ~np.isnan(followers)
    labels = label_top_decile(frame["play_count"], window_key(frame["posted_at"]))[0].to_numpy(bool)
    stats: dict[str, float] = {
        "spearman_followers_views": float(spearmanr(followers[known], plays[known]).statistic),
        **{f"views_p{q}": float(np.quantile(plays, q / 100)) for q in (10, 50, 90, 99)},
        **{f"followers_p{q}": float(np.quantile(followers[known], q / 100)) for q in (10, 50, 90)},
    }
    per_creator = frame["author_id"].value_counts()
    stats["creators_once"] = float((per_creator == 1).mean())
    stats["creators_3plus"] = float((per_creator >= 3).mean())
    stats["videos_by_3plus_creators"] = float(per_creator[per_creator >= 3].sum() / len(frame))
    sound = frame["sound_original"].dropna().astype(bool)
    stats["original_sound"] = float(sound.mean())
    if "music_id" in frame:
        music = frame["music_id"].dropna().astype(str)
        stats["shared_sound"] = float(music.duplicated(keep=False).sum() / len(frame))
    else:
        stats["shared_sound"] = math.nan
    stats["follower_auc"] = roc_auc(followers[known], labels[known])
    history = earlier_mean_ln_views(frame).to_numpy()
    has = ~np.isnan(history) & known
    stats["videos_with_earlier"] = float((~np.isnan(history)).mean())
    stats["history_auc"] = roc_auc(history[has], labels[has])
    stats["history_follower_auc"] = roc_auc(followers[has], labels[has])
    return stats


def format_table(columns: dict[str, dict[str, float]]) -> list[str]:
    """Markdown-style rows: statistic, then one column per named set of statistics, then the real target."""
    names = list(columns)
    rows = [f"| statistic | {' | '.join(names)} | real target |", "|---" * (len(names) + 2) + "|"]
    for key, target in REAL_TARGETS.items():
        cells = [_fmt(columns[name].get(key, math.nan)) for name in names]
        rows.append(f"| {key} | {' | '.join(cells)} | {_fmt(target)} |")
    return rows


def _fmt(value: float) -> str:
    if value != value:
        return "n/a"
    if abs(value) >= 1_000_000:
        return f"{value / 1e6:.1f}M"
    if abs(value) >= 1_000:
        return f"{value / 1e3:.0f}k"
    return f"{value:.2f}"
