"""The update model's training set from real trajectories: the sightings in `video_snapshots`.

For each video of the configured scraper source old enough to have a 7-day outcome, its sightings
are read as the tiers a prediction would have collected (engine/model/trajectories.py: per tier,
the first sighting inside its collection window). A video with a 7 d reading is labelled; it gives
a 24 h row when it has a 24 h reading and a 72 h row when it has a 72 h one, whose features are
`early_views_at` of those readings (the serving function and its leakage rule). The label is
labels.py's rule on the 7 d readings: viral when above the `VIRAL_QUANTILE` quantile of the 7 d
views of its posting window's videos with a 7 d reading. A window with fewer of them than
`MIN_THRESHOLD_VIDEOS` has no honest threshold (the outcomes' rule): its videos are dropped and
counted. The split is by posting day, as for the simulated curves.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime

import numpy as np
import pandas as pd
import sqlalchemy as sa

from viral_pipeline.engine.calibration.outcomes import (
    MIN_THRESHOLD_VIDEOS,
    TIER_AGES,
    EvaluationTier,
)
from viral_pipeline.engine.model.early_views import (
    PRE_POSTING_COLUMNS,
    UPDATE_TIERS,
    early_view_columns,
    early_views_at,
)
from viral_pipeline.engine.model.features import build_features
from viral_pipeline.engine.model.labels import label_top_decile, window_key
from viral_pipeline.engine.model.provenance import Provenance
from viral_pipeline.engine.model.trajectories import collected_tiers
from viral_pipeline.ml.early_view_training import (
    MIN_SPLIT_DAYS,
    UpdateTrainingSet,
    split_by_day,
    tier_rows,
)
from viral_pipeline.store.training import load_labelled_videos
from viral_pipeline.store.trajectories import tier_sightings

_NAN = float("nan")


@dataclass(frozen=True)
class SnapshotTrajectories:
    """What the source's trajectories give: the training set (None when they cannot make one),
    and the counts that say why."""

    training: UpdateTrainingSet | None
    videos_old_enough: int  # posted at least 7 days before `as_of`
    videos_with_7d: int  # of those, with a 7 d reading
    videos_labelled: int  # of those, in a posting window with a threshold
    videos_with_rows: int  # of those, with a 24 h or a 72 h reading: the videos trained on
    windows_dropped: int  # posting windows under MIN_THRESHOLD_VIDEOS 7 d readings
    posting_days: int

    def shortfall(self, min_videos: int) -> str | None:
        """Why these trajectories cannot train a model worth gating; None when they can."""
        if (
            self.training is not None
            and self.videos_with_rows >= min_videos
            and self.posting_days >= MIN_SPLIT_DAYS
        ):
            return None
        return (
            f"{self.videos_with_rows} videos with a 24 h or 72 h reading and a 7-day outcome, over "
            f"{self.posting_days} posting days ({self.videos_with_7d} of {self.videos_old_enough} "
            f"videos old enough have a 7-day reading; {self.windows_dropped} posting windows "
            f"have fewer than {MIN_THRESHOLD_VIDEOS} for a threshold): training needs "
            f"{min_videos} (UPDATE_TRAINING_MIN_VIDEOS) over {MIN_SPLIT_DAYS} posting days"
        )


def snapshot_trajectories(
    engine: sa.Engine,
    *,
    scraper_source: str,
    quantile: float,
    window_days: int,
    as_of: datetime,
) -> SnapshotTrajectories:
    """The update training set of `scraper_source`'s trajectories, read as of `as_of`."""
    week = TIER_AGES[EvaluationTier.DAYS_7]
    raw = load_labelled_videos(
        engine, now=as_of, min_age_hours=week.total_seconds() / 3600, scraper_source=scraper_source
    )
    sightings = tier_sightings(engine, scraper_source, as_of - week, as_of)
    collected = [
        collected_tiers(posted_at, sightings.get(video_id, []))
        for video_id, posted_at in zip(raw["video_id"], raw["posted_at"])
    ]
    has_7d = np.array([EvaluationTier.DAYS_7 in rows for rows in collected], dtype=bool)
    old_enough, with_7d = len(raw), int(has_7d.sum())
    raw = raw[has_7d].reset_index(drop=True)
    collected = [rows for rows, keep in zip(collected, has_7d) if keep]
    window = window_key(raw["posted_at"], window_days) if len(raw) else pd.Series(dtype=object)
    counts = window.value_counts()
    thick = (window.map(counts) >= MIN_THRESHOLD_VIDEOS).to_numpy(dtype=bool)
    raw, window = raw[thick].reset_index(drop=True), window[thick].reset_index(drop=True)
    collected = [rows for rows, keep in zip(collected, thick) if keep]
    labelled = len(raw)
    windows_dropped = int((counts < MIN_THRESHOLD_VIDEOS).sum())
    views_7d = pd.Series([rows[EvaluationTier.DAYS_7]["views"] for rows in collected], dtype=float)
    viral = (
        label_top_decile(views_7d, window, quantile)[0].to_numpy()
        if labelled
        else np.zeros(0, dtype=int)
    )
    pre_posting = build_features(raw)[list(PRE_POSTING_COLUMNS)].reset_index(drop=True)
    day = raw["posted_at"].dt.date.to_numpy()
    parts, trained_on = [], np.zeros(labelled, dtype=bool)
    for tier in UPDATE_TIERS:
        early = [
            early_views_at(tier, posted_at, list(rows.values()))
            for posted_at, rows in zip(raw["posted_at"], collected)
        ]
        columns = early_view_columns(
            [_NAN if e is None else e.hours_observed for e in early],
            [_NAN if e is None else e.views for e in early],
            [_NAN if e is None or e.hours_24h is None else e.hours_24h for e in early],
            [_NAN if e is None or e.views_24h is None else e.views_24h for e in early],
        )
        present = np.array([e is not None for e in early], dtype=bool)
        trained_on |= present
        parts.append(tier_rows(pre_posting, tier, columns, day, viral, present))
    days = sorted(set(day[trained_on]))
    summary = SnapshotTrajectories(
        training=None,
        videos_old_enough=old_enough,
        videos_with_7d=with_7d,
        videos_labelled=labelled,
        videos_with_rows=int(trained_on.sum()),
        windows_dropped=windows_dropped,
        posting_days=len(days),
    )
    if len(days) < MIN_SPLIT_DAYS:
        return summary
    frame = split_by_day(pd.concat(parts, ignore_index=True))
    provenance = Provenance(
        dataset="snapshots",
        source=scraper_source,
        first_posted_day=days[0].isoformat(),
        last_posted_day=days[-1].isoformat(),
        rows=len(frame),
    )
    return replace(
        summary, training=UpdateTrainingSet(frame=frame, provenance=provenance, quantile=quantile)
    )
