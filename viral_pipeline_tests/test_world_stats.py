"""The simulated world at the real sample's scale (~110 videos a day for 90 days) shows the real
sample's statistics, and world_statistics computes them as defined."""

from __future__ import annotations

from datetime import UTC, date, datetime

import numpy as np
import pandas as pd
import pytest

from viral_pipeline.engine.inputs.items import VideoRecord, parse_item
from viral_pipeline.engine.model.labels import label_top_decile, window_key
from viral_pipeline.engine.world import simulated as sim
from viral_pipeline.engine.world.stats import (
    REAL_TARGETS,
    earlier_mean_ln_views,
    format_table,
    world_statistics,
)

START, DAYS, PER_DAY = date(2025, 1, 6), 90, 110


def _frame(items: list, now: datetime) -> pd.DataFrame:
    """The labelled-video columns world_statistics reads, plus music_id, from scraper items."""
    records = [r for r in (parse_item(i, now=now) for i in items) if isinstance(r, VideoRecord)]
    return pd.DataFrame(
        {
            "video_id": [r.video_id for r in records],
            "author_id": [r.author_id for r in records],
            "posted_at": pd.to_datetime([r.posted_at for r in records], utc=True),
            "play_count": [r.play_count for r in records],
            "sound_original": pd.Series(
                [None if r.music_id is None else bool(r.music_original) for r in records],
                dtype=object,
            ),
            "followers": [float(r.author_followers) for r in records],
            "music_id": [r.music_id for r in records],
        }
    )


@pytest.fixture(scope="module")
def sample():
    days = list(sim.iter_days(START, DAYS, PER_DAY))
    frame = _frame([item for day in days for item in day.items], datetime(2026, 1, 1, tzinfo=UTC))
    knowable = {k: v for day in days for k, v in day.knowable_viral_probability.items()}
    oracle = {k: v for day in days for k, v in day.oracle_viral_probability.items()}
    return frame, world_statistics(frame), knowable, oracle


# Tolerances: one 10k-video sample of one world; measured values in the comments.
TOLERANCE = {
    "spearman_followers_views": 0.04,  # 0.197
    "creators_once": 0.04,
    "creators_3plus": 0.03,
    "videos_by_3plus_creators": 0.04,  # 0.783, 0.108, 0.320
    "videos_with_earlier": 0.04,
    "original_sound": 0.03,
    "shared_sound": 0.05,  # 0.321, 0.390, 0.322
    "follower_auc": 0.03,
    "history_auc": 0.04,
    "history_follower_auc": 0.04,  # 0.602, 0.674, 0.602
}


@pytest.mark.parametrize("key", sorted(TOLERANCE))
def test_the_share_and_auc_statistics_match_the_real_sample(sample, key):
    stats = sample[1]
    assert abs(stats[key] - REAL_TARGETS[key]) <= TOLERANCE[key], (key, stats[key])


@pytest.mark.parametrize("key", [k for k in REAL_TARGETS if k.startswith(("views_", "followers_"))])
def test_the_quantiles_match_the_real_sample_within_20_percent(sample, key):
    stats = sample[1]
    assert abs(np.log(stats[key] / REAL_TARGETS[key])) < np.log(1.2), (key, stats[key])


def test_metadata_alone_reaches_the_real_models_auc_and_the_creator_effect_much_more(sample):
    frame, _, knowable, oracle = sample
    y = label_top_decile(frame["play_count"], window_key(frame["posted_at"]))[0].to_numpy(bool)
    knowable_auc = sim.roc_auc(frame["video_id"].map(knowable).to_numpy(), y)
    oracle_auc = sim.roc_auc(frame["video_id"].map(oracle).to_numpy(), y)
    # Measured 0.650. A real model reached 0.61-0.62; at this scale the project's model lands about
    # 0.03 below the knowable best (bench/README.md), so the knowable best sits a little above.
    assert 0.62 <= knowable_auc <= 0.68
    assert oracle_auc > knowable_auc + 0.1  # measured 0.770


def test_earlier_views_are_strictly_earlier_and_per_creator():
    frame = pd.DataFrame(
        {
            "author_id": ["a", "a", "b", "a", "a"],
            "video_id": ["1", "2", "3", "4", "5"],
            "posted_at": pd.to_datetime(
                [
                    "2025-01-01 10:00",
                    "2025-01-02 10:00",
                    "2025-01-02 11:00",
                    "2025-01-03 10:00",
                    "2025-01-03 10:00",
                ],
                utc=True,
            ),
            "play_count": [np.e, np.e**3, 100, 1, 1],
        }
    )
    means = earlier_mean_ln_views(frame).tolist()
    # a's first video has no history; its two videos at the same instant see only the first two.
    assert np.isnan(means[0]) and means[1] == pytest.approx(1) and np.isnan(means[2])
    assert means[3] == means[4] == pytest.approx(2)


def test_without_music_ids_the_shared_sound_share_is_unknown(sample):
    stats = world_statistics(sample[0].drop(columns="music_id"))
    assert np.isnan(stats["shared_sound"]) and not np.isnan(stats["original_sound"])
    rows = format_table({"sim": stats})
    assert rows[0] == "| statistic | sim | real target |" and len(rows) == 2 + len(REAL_TARGETS)
    assert any(row.startswith("| shared_sound | n/a |") for row in rows)
