"""The label (top decile of plays per posting window) and the time/creator split."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import numpy as np
import pandas as pd
import pytest

from viral_pipeline.engine.inputs.items import VideoRecord, parse_item
from viral_pipeline.engine.model.labels import label_top_decile, window_key
from viral_pipeline.engine.model.split import Split, time_creator_split
from viral_pipeline.engine.world import simulated as sim

# ---- window_key ----------------------------------------------------------------------------


def test_window_key_is_the_utc_day():
    posted = pd.Series(
        [
            datetime(2026, 11, 28, 23, 59, tzinfo=UTC),
            datetime(2026, 11, 29, 0, 0, tzinfo=UTC),
            pd.Timestamp("2026-11-29T00:30:00+02:00"),
            datetime(2026, 11, 28, 12, 0),
        ],  # naive = UTC
        index=[10, 11, 12, 13],
        dtype=object,
    )
    keys = window_key(posted)
    assert keys.tolist() == ["2026-11-28", "2026-11-29", "2026-11-28", "2026-11-28"]
    assert keys.index.tolist() == [10, 11, 12, 13]


def test_window_key_over_several_days():
    days = pd.Series(pd.date_range("2026-11-20", "2026-11-29", freq="D", tz="UTC"))
    keys = window_key(days, window_days=7)
    # Windows count from 1970-01-01 (a Thursday): 2026-11-19 starts one, 2026-11-26 the next.
    assert keys.tolist() == ["2026-11-19"] * 6 + ["2026-11-26"] * 4
    assert (date.fromisoformat("2026-11-19") - date(1970, 1, 1)).days % 7 == 0
    with pytest.raises(ValueError, match="window_days"):
        window_key(days, window_days=0)
    with pytest.raises(ValueError, match="missing timestamps"):
        window_key(pd.Series([datetime(2026, 1, 1, tzinfo=UTC), None]))


# ---- label_top_decile ----------------------------------------------------------------------


def test_thresholds_per_window_and_the_strictly_above_rule():
    plays = pd.Series(
        list(range(1, 11)) + [5] * 10 + [100, 200], index=[f"v{i}" for i in range(22)]
    )
    window = pd.Series(["a"] * 10 + ["b"] * 10 + ["c"] * 2, index=plays.index)
    labels, thresholds = label_top_decile(plays, window)
    assert thresholds == pytest.approx({"a": 9.1, "b": 5.0, "c": 190.0})
    assert labels.index.equals(plays.index) and labels.dtype == np.int64
    assert labels[window == "a"].tolist() == [0] * 9 + [1]  # 10 > 9.1
    assert labels[window == "b"].sum() == 0  # all tied at the threshold: none strictly above
    assert labels[window == "c"].tolist() == [0, 1]
    # Another quantile moves the thresholds.
    _, halves = label_top_decile(plays, window, quantile=0.5)
    assert halves["a"] == pytest.approx(5.5)


def test_label_input_checks():
    plays = pd.Series([1, 2, 3])
    with pytest.raises(ValueError, match="quantile"):
        label_top_decile(plays, pd.Series(["a"] * 3), quantile=1.0)
    with pytest.raises(ValueError, match="same index"):
        label_top_decile(plays, pd.Series(["a"] * 3, index=[5, 6, 7]))
    with pytest.raises(ValueError, match="missing"):
        label_top_decile(pd.Series([1, None, 3]), pd.Series(["a"] * 3))


def test_about_ten_percent_viral_on_simulated_days():
    frames = []
    for day in sim.iter_days(date(2025, 3, 1), 3, 3_000):
        records = [r for r in map(parse_item, day.items) if isinstance(r, VideoRecord)]
        frames.append(
            pd.DataFrame(
                {
                    "video_id": [r.video_id for r in records],
                    "posted_at": [r.posted_at for r in records],
                    "plays": [r.play_count for r in records],
                }
            )
        )
    frame = pd.concat(frames, ignore_index=True)
    labels, thresholds = label_top_decile(frame["plays"], window_key(frame["posted_at"]))
    assert sorted(thresholds) == ["2025-03-01", "2025-03-02", "2025-03-03"]
    assert 0.09 <= labels.mean() <= 0.101
    for key, rate in labels.groupby(window_key(frame["posted_at"])).mean().items():
        assert 0.09 <= rate <= 0.101, key
    # The same rule as the simulated source's own labels.
    first_day = frame[window_key(frame["posted_at"]) == "2025-03-01"]
    expected = sim.viral_labels(dict(zip(first_day["video_id"], first_day["plays"])))
    assert labels[first_day.index].tolist() == [int(expected[v]) for v in first_day["video_id"]]


# ---- time_creator_split --------------------------------------------------------------------


def _videos(n: int = 2_000, creators: int = 500, seed: int = 1) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    start = datetime(2026, 1, 1, tzinfo=UTC)
    frame = pd.DataFrame(
        {
            "posted_at": [
                start + timedelta(minutes=int(m)) for m in rng.integers(0, 60 * 24 * 30, n)
            ],
            "author_id": [f"c{c}" for c in rng.integers(0, creators, n)],
            "viral": (rng.random(n) < 0.1).astype(int),
        }
    )
    frame.index = [f"row{i}" for i in range(n)]  # labels, not positions, come back
    return frame


def test_split_by_time_and_creator():
    frame = _videos()
    split = time_creator_split(frame)
    assert isinstance(split, Split)
    train, calibration, test = (frame.loc[i] for i in (split.train, split.calibration, split.test))

    # The test slice: the held-out half of the creators seen in the newest fifth, their newest rows.
    newest = frame[frame["posted_at"] >= frame["posted_at"].sort_values().iloc[len(frame) - 400]]
    assert set(test.index) <= set(newest.index)
    assert len(test) == pytest.approx(0.5 * len(newest), rel=0.25)
    assert set(test["author_id"]) == set(
        newest.loc[newest["author_id"].isin(set(test["author_id"])), "author_id"]
    )
    assert test["posted_at"].min() >= max(train["posted_at"].max(), calibration["posted_at"].max())

    # No creator on both sides, in either split.
    test_creators = set(test["author_id"])
    assert not test_creators & (set(train["author_id"]) | set(calibration["author_id"]))
    assert not set(train["author_id"]) & set(calibration["author_id"])

    # Dropped: the older rows of test creators and the newest rows of the others.
    older = frame.drop(newest.index)
    assert (
        split.dropped_for_creator_overlap
        == (
            older["author_id"].isin(test_creators).sum()
            + (~newest["author_id"].isin(test_creators)).sum()
        )
        > 0
    )
    # Far more is kept for training than by dropping every newest-slice creator's history.
    assert (
        len(train) + len(calibration)
        > 1.5 * (~older["author_id"].isin(set(newest["author_id"]))).sum()
    )
    parts = [*split.train, *split.calibration, *split.test]
    assert len(parts) == len(set(parts)) == len(frame) - split.dropped_for_creator_overlap

    # Calibration is about a fifth of the remaining older rows, with both classes in every slice.
    assert 0.1 < len(calibration) / (len(train) + len(calibration)) < 0.35
    for part in (train, calibration, test):
        assert 0 < part["viral"].sum() < len(part)


def test_split_is_deterministic_per_seed():
    frame = _videos()
    first, again = time_creator_split(frame, seed=3), time_creator_split(frame, seed=3)
    for part in ("train", "calibration", "test"):
        assert getattr(first, part).equals(getattr(again, part))
    assert first.dropped_for_creator_overlap == again.dropped_for_creator_overlap
    assert time_creator_split(frame, seed=4).calibration.tolist() != first.calibration.tolist()


def test_split_with_other_column_names_and_fractions():
    frame = _videos().rename(columns={"posted_at": "t", "author_id": "who", "viral": "y"})
    split = time_creator_split(
        frame,
        test_fraction=0.3,
        calibration_fraction=0.25,
        test_creator_fraction=1.0,
        time_col="t",
        creator_col="who",
        label_col="y",
    )
    assert len(split.test) == pytest.approx(
        0.3 * len(frame), abs=2
    )  # every newest creator held out


def test_a_slice_without_positives_raises():
    frame = _videos()
    newest = frame["posted_at"] >= frame["posted_at"].quantile(0.7)
    frame.loc[newest, "viral"] = 0
    with pytest.raises(ValueError, match="test slice has 0 positive"):
        time_creator_split(frame)
    no_negatives = _videos().assign(viral=1)
    with pytest.raises(ValueError, match="0 negative"):
        time_creator_split(no_negatives)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda f: f.drop(columns=["author_id"]), "no column"),
        (lambda f: f.set_axis(["same"] * len(f)), "unique"),
        (lambda f: f.assign(viral=2), "0/1"),
        (lambda f: f.assign(author_id=None), "author_id has missing"),
        (lambda f: f.iloc[:1], "cannot split 1 rows"),
        (
            lambda f: f.assign(author_id=np.where(np.arange(len(f)) < len(f) - 30, "one", "other")),
            "too few",
        ),
    ],
)
def test_split_input_checks(change, message):
    with pytest.raises(ValueError, match=message):
        time_creator_split(change(_videos(n=300)))


def test_split_fraction_checks():
    with pytest.raises(ValueError, match="test_fraction"):
        time_creator_split(_videos(n=50), test_fraction=1.0)
    with pytest.raises(ValueError, match="calibration_fraction"):
        time_creator_split(_videos(n=50), calibration_fraction=0.6)
    with pytest.raises(ValueError, match="test_creator_fraction"):
        time_creator_split(_videos(n=50), test_creator_fraction=0)
