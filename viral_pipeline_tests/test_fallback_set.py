"""The bundled fallback training set: present, loadable, labelled ~10% viral, and reproducible."""

from __future__ import annotations

import gzip
from datetime import date

import numpy as np
import pandas as pd
import pytest

from viral_pipeline.engine.model.features import FEATURE_COLUMNS, build_features
from viral_pipeline.engine.model.labels import label_top_decile, window_key
from viral_pipeline.ml import fallback
from viral_pipeline.ml.fallback import (
    FALLBACK_PATH,
    build_fallback_frame,
    load_fallback_frame,
    to_csv_bytes,
)
from viral_pipeline.store.training import LABELLED_COLUMNS


@pytest.fixture(scope="module")
def bundled() -> pd.DataFrame:
    return load_fallback_frame()


@pytest.fixture(scope="module")
def small_build() -> pd.DataFrame:
    return build_fallback_frame(days=2, videos_per_day=200)


def test_the_file_is_bundled_and_small():
    assert FALLBACK_PATH.name == "fallback_training_set.csv.gz"
    assert (
        FALLBACK_PATH.parent.name == "data" and FALLBACK_PATH.parent.parent.name == "viral_pipeline"
    )
    assert 100_000 < FALLBACK_PATH.stat().st_size < 1_500_000


def test_it_loads_with_the_labelled_video_dtypes(bundled):
    assert list(bundled.columns) == list(LABELLED_COLUMNS)
    assert len(bundled) >= 10_000
    assert str(bundled["posted_at"].dt.tz) == "UTC" and bundled["posted_at"].is_monotonic_increasing
    assert bundled["posted_at"].min() >= pd.Timestamp("2026-01-01", tz="UTC")
    assert bundled["posted_at"].max() < pd.Timestamp("2026-01-31", tz="UTC")
    assert all(isinstance(tags, list) for tags in bundled["hashtags"])
    assert (bundled["hashtags"].map(len) == 0).mean() > 0.1  # videos without a tag round-trip as []
    assert set(bundled["sound_original"].map(repr)) == {"True", "False", "None"}
    assert set(bundled["verified"].map(repr)) <= {"True", "False", "None"}
    assert bundled["is_slideshow"].dtype == bool and bundled["play_count"].dtype == np.int64
    assert bundled["followers"].dtype == np.float64 and bundled["video_id"].is_unique
    assert (bundled["sound_trend_score"] > 0).mean() > 0.05  # trends of the day before are joined
    assert bundled["sound_trend_score"].between(0, 1).all()


def test_about_ten_percent_positive_after_labelling(bundled):
    labels, thresholds = label_top_decile(bundled["play_count"], window_key(bundled["posted_at"]))
    assert len(thresholds) == 30
    assert 0.09 <= labels.mean() <= 0.105
    features = build_features(bundled)
    assert list(features.columns) == list(FEATURE_COLUMNS) and len(features) == len(bundled)


def test_a_fresh_build_is_deterministic(small_build):
    again = build_fallback_frame(days=2, videos_per_day=200)
    pd.testing.assert_frame_equal(small_build, again)
    first = small_build.iloc[0]
    # Pinned figures of the current simulated world (they change whenever the world does).
    assert len(small_build) == 389
    assert (first["video_id"], first["play_count"], first["followers"], first["duration_s"]) == (
        "7590176230191445959",
        933_000,
        5_151.0,
        13,
    )
    assert first["hashtags"] == [] and small_build["hashtags"].map(len).max() > 3
    assert small_build["video_id"].iloc[-1] == "7590907827820444324"


def test_the_bundled_file_matches_the_code(bundled):
    """The first two days of the file are what a fresh build of two days gives."""
    fresh = build_fallback_frame(
        days=2, videos_per_day=fallback.DEFAULT_VIDEOS_PER_DAY, start=fallback.DEFAULT_START
    )
    head = bundled[bundled["posted_at"] < pd.Timestamp("2026-01-03", tz="UTC")].reset_index(
        drop=True
    )
    pd.testing.assert_frame_equal(head, fresh)


def test_csv_round_trip_and_same_bytes(small_build, tmp_path):
    data = to_csv_bytes(small_build)
    assert data == to_csv_bytes(small_build.copy())
    assert gzip.decompress(data).decode().splitlines()[0] == ",".join(LABELLED_COLUMNS)
    path = tmp_path / "set.csv.gz"
    path.write_bytes(data)
    pd.testing.assert_frame_equal(load_fallback_frame(path), small_build)


def test_unknowns_and_empty_values_round_trip(small_build, tmp_path):
    frame = small_build.head(4).copy()
    frame["followers"] = [np.nan, 5.0, 0.0, 1_000_000.0]
    frame["verified"] = pd.Series([None, True, False, None], dtype=object)
    frame["sound_original"] = pd.Series([None, False, True, None], dtype=object)
    frame["caption"] = ["", 'quotes "and", commas', "line\nbreak", "NA"]
    frame["hashtags"] = pd.Series([[], ["a"], ["b", "c"], ["nan"]], dtype=object)
    path = tmp_path / "set.csv.gz"
    path.write_bytes(to_csv_bytes(frame))
    pd.testing.assert_frame_equal(load_fallback_frame(path), frame)


def test_bad_frames_and_files_are_refused(small_build, tmp_path):
    frame = small_build.head(2).copy()
    frame["hashtags"] = pd.Series([["a|b"], []], dtype=object)
    with pytest.raises(ValueError, match="separator"):
        to_csv_bytes(frame)
    path = tmp_path / "bad.csv.gz"
    path.write_bytes(gzip.compress(b"video_id,author_id\n1,2\n"))
    with pytest.raises(ValueError, match="lacks the columns"):
        load_fallback_frame(path)


def test_main_writes_the_file(monkeypatch, tmp_path, small_build):
    target = tmp_path / "data" / "fallback_training_set.csv.gz"
    monkeypatch.setattr(fallback, "FALLBACK_PATH", target)
    monkeypatch.setattr(fallback, "build_fallback_frame", lambda: small_build)
    monkeypatch.setattr(fallback, "configure_logging", lambda: None)  # leave the root logger alone
    fallback.main()
    assert target.read_bytes() == to_csv_bytes(small_build)
    assert date(2026, 1, 1) == fallback.DEFAULT_START
