"""The bundled fallback training set: simulated videos, labelled-video columns, in a csv.gz.

It is generated through the same path as production data: simulated scraper items go through
`ingest_items` into a temporary SQLite database, `compute_trending_sounds` scores the sounds, and
`load_labelled_videos` reads the training rows back (trend score of the day before posting).
The file is byte-for-byte reproducible:

    .venv/bin/python -m viral_pipeline.ml.fallback
"""

from __future__ import annotations

import gzip
import tempfile
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path

import numpy as np
import pandas as pd

from viral_pipeline.engine.model.labels import label_top_decile, window_key
from viral_pipeline.engine.world.simulated import iter_days
from viral_pipeline.observability import configure_logging, get_logger
from viral_pipeline.store.db import ready_engine
from viral_pipeline.store.training import LABELLED_COLUMNS, load_labelled_videos
from viral_pipeline.store.trends import compute_trending_sounds
from viral_pipeline.store.videos import ingest_items

FALLBACK_PATH = Path(__file__).resolve().parent.parent / "data" / "fallback_training_set.csv.gz"
DEFAULT_DAYS, DEFAULT_VIDEOS_PER_DAY, DEFAULT_START = 30, 500, date(2026, 1, 1)
_TAG_SEPARATOR = "|"
_TIME_FORMAT = "%Y-%m-%dT%H:%M:%SZ"

log = get_logger("viral_pipeline.ml.fallback")


def build_fallback_frame(
    days: int = DEFAULT_DAYS,
    videos_per_day: int = DEFAULT_VIDEOS_PER_DAY,
    start: date = DEFAULT_START,
) -> pd.DataFrame:
    """Simulate `days` days from `start`, load them like production, return the labelled-video frame."""
    # The day after the last simulated one: every video is in the past and at least 24 h old.
    end = datetime.combine(start + timedelta(days=days), time(), tzinfo=UTC)
    with tempfile.TemporaryDirectory(prefix="viral_fallback_") as directory:
        engine = ready_engine(f"sqlite:///{directory}/fallback.db")
        try:
            for day in iter_days(start, days, videos_per_day):
                ingest_items(
                    engine, day.items, source="simulated", batch=f"fallback-{day.day}", now=end
                )
            compute_trending_sounds(engine)
            return load_labelled_videos(engine, now=end + timedelta(days=1))
        finally:
            engine.dispose()


def _flags(values: pd.Series) -> list[str]:
    return ["" if v is None or v is pd.NA or v != v else str(int(bool(v))) for v in values.tolist()]


def to_csv_bytes(frame: pd.DataFrame) -> bytes:
    """The frame as gzip-compressed CSV; the same frame gives the same bytes (no timestamp in the header)."""
    tags = frame["hashtags"].tolist()
    if any(_TAG_SEPARATOR in tag for row in tags for tag in row):
        raise ValueError(f"a hashtag contains the separator {_TAG_SEPARATOR!r}")
    out = pd.DataFrame(
        {
            "video_id": frame["video_id"].astype(str),
            "author_id": frame["author_id"].astype(str),
            "posted_at": pd.to_datetime(frame["posted_at"], utc=True).dt.strftime(_TIME_FORMAT),
            "play_count": frame["play_count"].astype(np.int64),
            "caption": frame["caption"].astype(str),
            "hashtags": [_TAG_SEPARATOR.join(row) for row in tags],
            "sound_original": _flags(frame["sound_original"]),
            "sound_trend_score": frame["sound_trend_score"].astype(float),
            "duration_s": frame["duration_s"].astype(np.int64),
            "is_slideshow": frame["is_slideshow"].astype(bool).astype(int),
            "followers": frame["followers"].astype(float).astype("Int64"),
            "verified": _flags(frame["verified"]),
        }
    )[list(LABELLED_COLUMNS)]
    text = out.to_csv(index=False, lineterminator="\n")
    return gzip.compress(text.encode("utf-8"), compresslevel=9, mtime=0)


def _read_flags(values: pd.Series) -> pd.Series:
    return pd.Series(
        [None if v == "" else v == "1" for v in values.tolist()], index=values.index, dtype=object
    )


def load_fallback_frame(path: Path = FALLBACK_PATH) -> pd.DataFrame:
    """The bundled set with the dtypes of `load_labelled_videos`: hashtags as lists, posted_at UTC."""
    raw = pd.read_csv(path, dtype=str, keep_default_na=False, compression="gzip")
    missing = [c for c in LABELLED_COLUMNS if c not in raw.columns]
    if missing:
        raise ValueError(f"{path} lacks the columns {missing}")
    frame = pd.DataFrame(
        {
            "video_id": raw["video_id"].astype(str),
            "author_id": raw["author_id"].astype(str),
            "posted_at": pd.to_datetime(raw["posted_at"], format=_TIME_FORMAT, utc=True),
            "play_count": raw["play_count"].astype(np.int64),
            "caption": raw["caption"].astype(str),
            "hashtags": pd.Series(
                [s.split(_TAG_SEPARATOR) if s else [] for s in raw["hashtags"].tolist()],
                index=raw.index,
                dtype=object,
            ),
            "sound_original": _read_flags(raw["sound_original"]),
            "sound_trend_score": raw["sound_trend_score"].map(float).astype(float),
            "duration_s": raw["duration_s"].astype(np.int64),
            "is_slideshow": raw["is_slideshow"] == "1",
            "followers": raw["followers"].map(lambda s: float(s) if s else np.nan).astype(float),
            "verified": _read_flags(raw["verified"]),
        }
    )
    return frame[list(LABELLED_COLUMNS)]


def main() -> None:
    """Regenerate FALLBACK_PATH (`python -m viral_pipeline.ml.fallback`)."""
    configure_logging()
    frame = build_fallback_frame()
    FALLBACK_PATH.parent.mkdir(parents=True, exist_ok=True)
    FALLBACK_PATH.write_bytes(to_csv_bytes(frame))
    labels, _ = label_top_decile(frame["play_count"], window_key(frame["posted_at"]))
    log.info(
        "fallback training set written",
        path=str(FALLBACK_PATH),
        rows=len(frame),
        positive_rate=round(float(labels.mean()), 4),
        bytes=FALLBACK_PATH.stat().st_size,
    )


if __name__ == "__main__":  # pragma: no cover - the module entry point; main() is tested directly
    main()
