"""Creator history features: their figures, the label rule from counts, and no look-ahead."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta

import numpy as np
import pandas as pd
import pytest

from viral_pipeline.engine.model.creator_history import (
    HISTORY_COLUMNS,
    PriorVideo,
    history_of,
    is_top_quantile,
)
from viral_pipeline.engine.model.labels import label_top_decile, window_key
from viral_pipeline.ml.dataset import with_creator_history

T0 = datetime(2026, 3, 2, tzinfo=UTC)  # a Monday, 00:00 UTC


def _videos(rows: list[tuple[str, datetime, int]]) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "video_id": [f"v{i}" for i in range(len(rows))],
            "author_id": [author for author, _, _ in rows],
            "posted_at": pd.to_datetime([posted for _, posted, _ in rows], utc=True),
            "play_count": [plays for _, _, plays in rows],
        }
    )


def _history(videos: pd.DataFrame, quantile: float = 0.9) -> pd.DataFrame:
    labels = label_top_decile(videos["play_count"], window_key(videos["posted_at"]), quantile)[0]
    return with_creator_history(videos, labels, window_days=1)[
        ["video_id", *HISTORY_COLUMNS]
    ].set_index("video_id")


def test_figures_of_a_small_history():
    day = timedelta(days=1)
    videos = _videos(
        [
            ("a", T0 + timedelta(hours=9), 100),  # v0: a's first video
            ("a", T0 + day + timedelta(hours=9), 10_000),  # v1
            ("b", T0 + day + timedelta(hours=10), 5),  # v2: someone else's
            ("a", T0 + 2 * day + timedelta(hours=21), 1_000),  # v3
            ("a", T0 + 2 * day + timedelta(hours=21), 7),  # v4: posted at the same second as v3
        ]
    )
    h = _history(videos, quantile=0.5)
    assert h.loc["v0"].tolist()[0] == 0 and h.loc["v0", "creator_no_history"] == 1
    assert all(math.isnan(h.loc["v0", c]) for c in HISTORY_COLUMNS[1:5])
    v3 = h.loc["v3"]
    assert v3["creator_prior_videos"] == 2 and v3["creator_no_history"] == 0
    assert v3["creator_prior_mean_log_plays"] == pytest.approx(
        (math.log1p(100) + math.log1p(10_000)) / 2
    )
    assert v3["creator_prior_median_log_plays"] == pytest.approx(v3.iloc[1])
    assert v3["creator_days_since_previous"] == pytest.approx(1.5)
    # Day 1 holds v1 (10,000) and v2 (5): v1 is above the median, so viral; v0 alone is not.
    assert v3["creator_prior_viral_rate"] == pytest.approx(0.5)
    # A tie in posting time is not "earlier": v4 sees what v3 sees.
    pd.testing.assert_series_equal(h.loc["v4"], v3, check_names=False)
    # v1's window opened before v0's closed? No: v0's day is closed, so it counts (not viral).
    assert h.loc["v1", "creator_prior_viral_rate"] == 0.0
    assert h.loc["v2", "creator_no_history"] == 1


@pytest.mark.parametrize("quantile", [0.9, 0.75, 0.5])
def test_the_label_from_counts_is_the_training_label(quantile):
    rng = np.random.default_rng(3)
    for n in [*range(1, 40), 97, 110, 2000]:
        plays = pd.Series(rng.integers(0, 12 if n % 2 else 10**6, size=n))  # ties in odd sizes
        expected = label_top_decile(plays, pd.Series(["w"] * n), quantile)[0].to_numpy()
        below = [(plays < p).sum() for p in plays]
        got = [is_top_quantile(int(b), n, quantile) for b in below]
        assert np.array_equal(np.array(got, dtype=int), expected), n


def _world(seed: int, n: int = 600) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    offsets = rng.uniform(0, 20 * 86_400, size=n)
    return _videos(
        [
            (f"c{rng.integers(0, 40)}", T0 + timedelta(seconds=float(s)), int(rng.lognormal(8, 2)))
            for s in offsets
        ]
    )


def test_later_videos_never_move_a_videos_history():
    videos = _world(seed=1)
    cut = videos["posted_at"].sort_values().iloc[len(videos) // 2]
    before = _history(videos)
    later = videos["posted_at"] > cut
    rng = np.random.default_rng(2)
    changed = videos.copy()
    changed.loc[later, "play_count"] = rng.integers(0, 10**9, size=int(later.sum()))
    added = _videos(
        [
            (f"c{k % 40}", cut + timedelta(seconds=1 + k * 600), 10**9 if k % 2 else 0)
            for k in range(300)
        ]
    ).assign(video_id=lambda f: "new" + f["video_id"])
    after = _history(pd.concat([changed, added], ignore_index=True))
    kept = videos.loc[~later, "video_id"]
    assert len(kept) > 250
    pd.testing.assert_frame_equal(after.loc[kept], before.loc[kept])
    # ... while the later videos' own figures do move (the test can see a change).
    assert not after.loc[videos.loc[later, "video_id"]].equals(
        before.loc[videos.loc[later, "video_id"]]
    )


def test_serving_figures_equal_training_figures():
    """history_of (a served request, from counts) gives what with_creator_history gives."""
    videos = _world(seed=4, n=400)
    training = _history(videos)
    posted = videos["posted_at"]
    windows = window_key(posted)
    for i in range(0, len(videos), 7):
        author = videos.loc[i, "author_id"]
        prior = [
            PriorVideo(
                posted_at=posted[j].to_pydatetime(),
                plays=int(videos.loc[j, "play_count"]),
                window_videos=int((windows == windows[j]).sum()),
                window_below=int(
                    (
                        (windows == windows[j])
                        & (videos["play_count"] < videos.loc[j, "play_count"])
                    ).sum()
                ),
            )
            for j in videos.index[videos["author_id"] == author]
        ]
        served = history_of(prior, posted[i].to_pydatetime(), quantile=0.9, window_days=1)
        expected = training.loc[videos.loc[i, "video_id"]]
        assert list(served) == list(HISTORY_COLUMNS)
        np.testing.assert_allclose(list(served.values()), expected.to_numpy(), rtol=1e-12)
