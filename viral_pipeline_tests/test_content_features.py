"""Content features: the word bag hashes the same in every process and in both feature paths,
and the hashtag use counts read only the look-back strictly before a video."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta

import numpy as np
import pandas as pd
import pytest

from viral_pipeline.engine.model.content import (
    LOOKBACK_S,
    USE_COLUMNS,
    WORD_COLUMNS,
    topic_tags,
    use_arrays,
    use_figures,
    word_bucket,
    word_counts,
)
from viral_pipeline.engine.model.feature_row import FEATURE_COLUMNS, feature_vector
from viral_pipeline.engine.model.features import build_features
from viral_pipeline.ml.dataset import with_content_uses

TEXTS = [
    ("The 10-minute PASTA you need 🍝 #food #FYP", "Wait for the end"),
    ("Só mais um dia — café ☕ #Brasil", None),
    ("ثلاث دقائق فقط #طبخ", "اسمع"),
    ("", None),
]
_PROBE = (
    "import json, sys; from viral_pipeline.engine.model.content import word_counts; "
    "print(json.dumps([word_counts(c, h).tolist() for c, h in json.loads(sys.argv[1])]))"
)


def test_the_word_bag_is_the_same_in_every_process():
    """A salted hash would move words between columns from one process to the next."""
    here = [word_counts(caption, hook).tolist() for caption, hook in TEXTS]
    for seed in ("0", "1", "12345", "random"):
        env = {**os.environ, "PYTHONHASHSEED": seed}
        out = subprocess.run(
            [sys.executable, "-c", _PROBE, json.dumps(TEXTS)],
            env=env,
            capture_output=True,
            text=True,
            check=True,
            timeout=60,
        )
        assert json.loads(out.stdout) == here, seed
    # Pinned: crc32 is a fixed function, so the columns of a stored model never move.
    assert [word_bucket(w) for w in ("pasta", "food", "fyp", "café")] == [1, 23, 3, 21]


def test_words_and_hashtags_of_caption_and_hook_are_counted_once():
    bag = word_counts("Pasta pasta #pasta now", "now WAIT", hashtags=["Pasta", "dinner"])
    assert bag.sum() == 4  # pasta, now, wait, dinner
    assert bag[word_bucket("dinner")] >= 1 and bag[word_bucket("wait")] >= 1


def _raw(caption: str, hook: str | None, tags: list[str]) -> dict:
    return {
        "caption": caption,
        "hook": hook,
        "hashtags": tags,
        "sound_original": True,
        "sound_trend_score": 0.2,
        "duration_s": 20,
        "is_slideshow": False,
        "followers": 1200.0,
        "verified": False,
        "posted_at": datetime(2026, 3, 1, 12, tzinfo=UTC),
        "hashtag_prior_videos_max": 9.0,
        "hashtag_prior_videos_mean_log": 1.5,
    }


def test_training_and_serving_rows_have_the_same_content_columns():
    rows = [_raw(c, h, ["food", "fyp"] if k % 2 else []) for k, (c, h) in enumerate(TEXTS)]
    frame = build_features(pd.DataFrame(rows))
    columns = [FEATURE_COLUMNS.index(c) for c in (*WORD_COLUMNS, *USE_COLUMNS)]
    for k, row in enumerate(rows):
        np.testing.assert_array_equal(
            feature_vector(row)[columns], frame.iloc[k][list(WORD_COLUMNS + USE_COLUMNS)]
        )
    assert frame[list(WORD_COLUMNS)].to_numpy().sum() > 20


def _videos(n: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    start = datetime(2026, 1, 1, tzinfo=UTC)
    tags = ["food", "fyp", "cats", "travel", "diy"]
    return pd.DataFrame(
        {
            "posted_at": [
                start + timedelta(seconds=int(s)) for s in rng.integers(0, 20 * 86_400, n)
            ],
            "hashtags": [
                list(rng.choice(tags, rng.integers(0, 4), replace=False)) for _ in range(n)
            ],
        }
    )


def _brute_force(videos: pd.DataFrame) -> np.ndarray:
    """Each video's counts, by looking at every other row."""
    seconds = [t.timestamp() for t in videos["posted_at"]]
    out = []
    for i, t in enumerate(seconds):
        earlier = [j for j, s in enumerate(seconds) if t - LOOKBACK_S <= s < t]
        tags = topic_tags(videos["hashtags"][i])
        uses = {tag: sum(tag in videos["hashtags"][j] for j in earlier) for tag in tags}
        out.append(list(use_figures(uses, tags).values()))
    return np.array(out)


def test_use_counts_read_only_the_look_back_before_each_video():
    videos = _videos(400, seed=1)
    uses = with_content_uses(videos)[list(USE_COLUMNS)].to_numpy()
    np.testing.assert_allclose(uses, _brute_force(videos), rtol=1e-12)
    assert np.nanmax(uses[:, 0]) > 20 and np.isnan(uses[:, 0]).any()


def test_later_videos_never_move_the_use_counts():
    videos = _videos(300, seed=2)
    cut = videos["posted_at"].sort_values().iloc[150]
    early = videos[videos["posted_at"] < cut]
    before = with_content_uses(early)[list(USE_COLUMNS)].to_numpy()
    # Later videos, some at the very instant of the last early one, all with every tag.
    last = early["posted_at"].max()
    later = pd.DataFrame(
        {
            "posted_at": [last] * 5 + [cut + timedelta(hours=h) for h in range(50)],
            "hashtags": [["food", "cats", "diy", "travel"]] * 55,
        }
    )
    after = with_content_uses(pd.concat([early, later], ignore_index=True))
    np.testing.assert_array_equal(after[list(USE_COLUMNS)].to_numpy()[: len(early)], before)


@pytest.mark.parametrize(
    ("uses", "tags", "expected"),
    [
        ({}, ["fyp"], [np.nan, np.nan]),
        ({"food": 3}, ["#Food", "fyp"], [3.0, np.log1p(3)]),
        ({"food": 3}, ["food", "cats", "FYP"], [3.0, np.log1p(3) / 2]),
    ],
)
def test_use_figures(uses, tags, expected):
    figures = use_figures(uses, topic_tags(tags))
    np.testing.assert_allclose(list(figures.values()), expected)


def test_a_video_without_topic_tags_has_unknown_uses():
    assert np.isnan(use_arrays(np.array([0.0, 1.0]), [["fyp"], []])).all()
