"""The training set: labelled videos → features, label, time/creator split, with its provenance."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from viral_pipeline.engine.model.content import USE_COLUMNS, use_arrays
from viral_pipeline.engine.model.creator_history import HISTORY_COLUMNS, history_arrays
from viral_pipeline.engine.model.features import FEATURE_COLUMNS, build_features
from viral_pipeline.engine.model.labels import label_top_decile, window_key
from viral_pipeline.engine.model.provenance import BUNDLED_SOURCE, DatasetKind, Provenance
from viral_pipeline.engine.model.split import Split, time_creator_split

LABEL = "viral"


@dataclass(frozen=True)
class TrainingSet:
    """Features, labels and the split, plus what MLflow logs as the run's dataset."""

    frame: pd.DataFrame  # FEATURE_COLUMNS + LABEL + video_id, author_id, posted_at, window
    split: Split
    thresholds: dict[str, float]  # plays threshold per label window
    provenance: Provenance
    quantile: float
    notes: list[str] = field(default_factory=list)

    @property
    def source(self) -> str:
        """ "database" or "bundled": where the rows came from (the scraper source is in provenance)."""
        return self.provenance.dataset

    @property
    def digest(self) -> str:
        """Content hash of features and labels: the same data gives the same digest."""
        hashed = pd.util.hash_pandas_object(self.frame[[*FEATURE_COLUMNS, LABEL]], index=False)
        return hashlib.sha256(hashed.to_numpy().tobytes()).hexdigest()[:16]

    def part(self, name: str) -> tuple[pd.DataFrame, pd.Series]:
        rows = self.frame.loc[getattr(self.split, name)]
        return rows[list(FEATURE_COLUMNS)], rows[LABEL]

    def class_counts(self) -> dict[str, int]:
        positives = int(self.frame[LABEL].sum())
        return {"positives": positives, "negatives": len(self.frame) - positives}


def with_creator_history(videos: pd.DataFrame, labels: pd.Series, window_days: int) -> pd.DataFrame:
    """`videos` plus HISTORY_COLUMNS: each row's figures from its creator's (author_id) videos
    in `videos` posted strictly before it (creator_history.py's leakage rule)."""
    posted = pd.to_datetime(videos["posted_at"], utc=True)
    history = history_arrays(
        videos["author_id"].astype(str).to_numpy(),
        (posted - pd.Timestamp(0, tz="UTC")).dt.total_seconds().to_numpy(),
        pd.to_numeric(videos["play_count"]).to_numpy(dtype=float),
        labels.to_numpy(dtype=float),
        window_days,
    )
    return videos.assign(**dict(zip(HISTORY_COLUMNS, np.asarray(history).T)))


def with_content_uses(videos: pd.DataFrame) -> pd.DataFrame:
    """`videos` plus USE_COLUMNS: each row's counts of the rows in `videos` posted in the look-back
    strictly before it with the same topic hashtags (content.py)."""
    posted = pd.to_datetime(videos["posted_at"], utc=True)
    uses = use_arrays(
        (posted - pd.Timestamp(0, tz="UTC")).dt.total_seconds().to_numpy(),
        videos["hashtags"].tolist(),
    )
    return videos.assign(**dict(zip(USE_COLUMNS, uses.T)))


def assemble_training_set(
    labelled_videos: pd.DataFrame,
    *,
    fallback: pd.DataFrame,
    min_rows: int,
    quantile: float,
    window_days: int,
    scraper_source: str = BUNDLED_SOURCE,
) -> TrainingSet:
    """Label, featurize and split `labelled_videos` (the configured `scraper_source`'s videos);
    below `min_rows` rows, use the bundled simulated set instead, and say so."""
    notes = []
    dataset: DatasetKind = "database"
    source = scraper_source
    videos = labelled_videos
    if len(videos) < min_rows:
        notes.append(
            f"only {len(videos)} labelled {scraper_source} videos in the database (< {min_rows}): "
            "using the bundled simulated set"
        )
        dataset, source, videos = "bundled", BUNDLED_SOURCE, fallback
    videos = videos.reset_index(drop=True)
    windows = window_key(videos["posted_at"], window_days)
    labels, thresholds = label_top_decile(videos["play_count"], windows, quantile)
    frame = build_features(with_content_uses(with_creator_history(videos, labels, window_days)))
    frame[LABEL] = labels.astype(int)
    frame["video_id"] = videos["video_id"]
    frame["author_id"] = videos["author_id"]
    frame["posted_at"] = videos["posted_at"]
    frame["window"] = windows
    split = time_creator_split(frame, label_col=LABEL)
    posted = videos["posted_at"]
    provenance = Provenance(
        dataset=dataset,
        source=source,
        first_posted_day=posted.min().date().isoformat(),
        last_posted_day=posted.max().date().isoformat(),
        rows=len(frame),
    )
    return TrainingSet(frame, split, thresholds, provenance, quantile, notes)
