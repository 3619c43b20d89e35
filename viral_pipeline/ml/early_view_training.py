"""Training the update model on view trajectories: the set, the fit, its evidence, its MLflow run.

The set has one row per (video, update tier): UPDATE_FEATURE_COLUMNS, and the label "viral at
7 d": the video's views at 7 days strictly above the `VIRAL_QUANTILE` quantile of its posting
window's plays (labels.py's rule and threshold). On the simulated source the trajectories come
from the simulated world's view curve (engine/world/simulated_outcomes.py), the one its outcomes
follow: each video of a simulated day gets its own tau, a 24 h reading at a random age in the
tier's collection window (24-36 h), a 72 h reading likewise (72-108 h), and its 7-day views.
Some 72 h rows lack the 24 h reading (MISSED_24H_SHARE), as when that tier expired uncollected.

Split by posting day, oldest first: train, calibration (Platt, held out from the fit) and test
(held out from both; the gate reads it), so no day is on two sides.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from viral_pipeline.engine.calibration.outcomes import EvaluationTier
from viral_pipeline.engine.inputs.items import VideoRecord, parse_item
from viral_pipeline.engine.model.classifier import (
    ModelParams,
    evidence,
    metrics_from_probabilities,
    train_calibrated,
)
from viral_pipeline.engine.model.early_views import (
    EARLY_VIEW_COLUMNS,
    PRE_POSTING_COLUMNS,
    UPDATE_FEATURE_COLUMNS,
    UPDATE_TIERS,
    early_view_columns,
)
from viral_pipeline.engine.model.features import build_features
from viral_pipeline.engine.model.labels import label_top_decile, window_key
from viral_pipeline.engine.model.provenance import Provenance
from viral_pipeline.engine.world.simulated import WORLD_SEED, generate_day
from viral_pipeline.engine.world.simulated_outcomes import growth_tau, views_at_age

LABEL = "viral_7d"
MISSED_24H_SHARE = 0.15
SPLIT_SHARES = (0.6, 0.2)  # train, calibration; the newest rest is the test slice
MIN_SPLIT_DAYS = 3  # one posting day at least on each side
WEEK_HOURS = 7 * 24.0
# Smaller than the champion's: the early views carry most of the signal, and the fit runs in
# the training asset on tens of thousands of rows.
UPDATE_PARAMS = ModelParams(max_iter=150)


@dataclass(frozen=True)
class UpdateTrainingSet:
    frame: pd.DataFrame  # UPDATE_FEATURE_COLUMNS, tier, day, LABEL, part
    provenance: Provenance
    quantile: float

    def part(self, name: str, tier: str | None = None) -> tuple[pd.DataFrame, pd.Series]:
        rows = self.frame[self.frame["part"] == name]
        if tier is not None:
            rows = rows[rows["tier"] == tier]
        return rows[list(UPDATE_FEATURE_COLUMNS)], rows[LABEL]


def _raw_frame(records: list[VideoRecord]) -> pd.DataFrame:
    """The raw request columns of scraped videos, as store/training.py reads them."""
    return pd.DataFrame(
        {
            "caption": [r.caption for r in records],
            "hashtags": [list(r.hashtags) for r in records],
            "sound_original": [
                None if r.music_id is None else bool(r.music_original) for r in records
            ],
            "sound_trend_score": 0.0,  # not an update feature
            "duration_s": [r.duration_s for r in records],
            "is_slideshow": [r.is_slideshow for r in records],
            "followers": [
                np.nan if r.author_followers is None else r.author_followers for r in records
            ],
            "verified": [r.author_verified for r in records],
            "posted_at": pd.to_datetime([r.posted_at for r in records], utc=True),
            "play_count": [r.play_count for r in records],
        }
    )


def simulated_trajectories(
    last_day: date,
    days: int,
    per_day: int,
    *,
    quantile: float,
    window_days: int,
    world_seed: int = WORLD_SEED,
) -> UpdateTrainingSet:
    """The update training set of `days` simulated days ending on `last_day`."""
    first_day = last_day - timedelta(days=days - 1)
    parsed_at = datetime.combine(last_day + timedelta(days=2), time(), tzinfo=UTC)
    records = [
        record
        for k in range(days)
        for record in (
            parse_item(item, now=parsed_at)
            for item in generate_day(
                first_day + timedelta(days=k), per_day, world_seed=world_seed
            ).items
        )
        if isinstance(record, VideoRecord)
    ]
    raw = _raw_frame(records)
    window = window_key(raw["posted_at"], window_days)
    _, thresholds = label_top_decile(raw["play_count"], window, quantile)
    plays = raw["play_count"].to_numpy(dtype=float)
    rng = np.random.default_rng([world_seed, 8, last_day.toordinal(), days, per_day])
    n = len(raw)
    tau = growth_tau(rng.random(n))
    hours_24h, hours_72h = 24 * (1 + 0.5 * rng.random(n)), 72 * (1 + 0.5 * rng.random(n))
    missed = rng.random(n) < MISSED_24H_SHARE
    views_24h = np.rint(views_at_age(plays, hours_24h, tau))
    views_72h = np.rint(views_at_age(plays, hours_72h, tau))
    viral = (views_at_age(plays, WEEK_HOURS, tau) > window.map(thresholds).to_numpy()).astype(int)

    pre_posting = build_features(raw)[list(PRE_POSTING_COLUMNS)].reset_index(drop=True)
    day = raw["posted_at"].dt.date.to_numpy()
    every = np.ones(n, dtype=bool)
    frame = split_by_day(
        pd.concat(
            [
                tier_rows(
                    pre_posting,
                    EvaluationTier.HOURS_24,
                    early_view_columns(hours_24h, views_24h),
                    day,
                    viral,
                    every,
                ),
                tier_rows(
                    pre_posting,
                    EvaluationTier.HOURS_72,
                    early_view_columns(
                        hours_72h,
                        views_72h,
                        np.where(missed, np.nan, hours_24h),
                        np.where(missed, np.nan, views_24h),
                    ),
                    day,
                    viral,
                    every,
                ),
            ],
            ignore_index=True,
        )
    )
    provenance = Provenance(
        dataset="simulated_curves",
        source="simulated",
        first_posted_day=first_day.isoformat(),
        last_posted_day=last_day.isoformat(),
        rows=len(frame),
    )
    return UpdateTrainingSet(frame=frame, provenance=provenance, quantile=quantile)


def tier_rows(
    pre_posting: pd.DataFrame,
    tier: EvaluationTier,
    columns: dict[str, np.ndarray],
    day: np.ndarray,
    viral: np.ndarray,
    present: np.ndarray,
) -> pd.DataFrame:
    """The rows of one update tier: the videos `present` at it (a reading of the tier), their
    pre-posting features, EARLY_VIEW_COLUMNS, posting day and label."""
    part = pre_posting.copy()
    for name in EARLY_VIEW_COLUMNS:
        part[name] = columns[name]
    part["tier"], part["day"], part[LABEL] = str(tier), day, viral
    return part[present].reset_index(drop=True)


def split_by_day(frame: pd.DataFrame) -> pd.DataFrame:
    """`frame` with its `part` (train, calibration, test) by posting day, oldest first
    (SPLIT_SHARES), so no day is on two sides. Needs MIN_SPLIT_DAYS days."""
    order = sorted(set(frame["day"]))
    if len(order) < MIN_SPLIT_DAYS:
        raise ValueError(f"{len(order)} posting days: the split needs {MIN_SPLIT_DAYS}")
    train_end = order[int(len(order) * SPLIT_SHARES[0]) - 1]
    calibration_end = order[int(len(order) * sum(SPLIT_SHARES)) - 1]
    frame = frame.copy()
    frame["part"] = np.where(
        frame["day"] <= train_end,
        "train",
        np.where(frame["day"] <= calibration_end, "calibration", "test"),
    )
    return frame


@dataclass(frozen=True)
class UpdateFit:
    model: Any  # a sigmoid CalibratedClassifierCV, compiled for serving like the champion
    metrics_by_tier: dict[str, dict[str, float]]
    margins_by_tier: dict[str, dict[str, float]]
    test_probabilities: dict[str, np.ndarray] = field(default_factory=dict)


def fit_update_model(
    training: UpdateTrainingSet, params: ModelParams = UPDATE_PARAMS, n_boot: int = 200
) -> UpdateFit:
    """Fit on the train slice, Platt-calibrate on the calibration slice, and measure each update
    tier on the test slice (`evidence`: the figures the gate reads)."""
    X_train, y_train = training.part("train")
    X_calib, y_calib = training.part("calibration")
    model = train_calibrated(X_train, y_train, X_calib, y_calib, params)
    return measure_update_model(model, training, n_boot)


def measure_update_model(model, training: UpdateTrainingSet, n_boot: int = 200) -> UpdateFit:
    metrics, margins, probabilities = {}, {}, {}
    for tier in UPDATE_TIERS:
        X_test, y_test = training.part("test", tier)
        p = np.asarray(model.predict_proba(X_test))[:, 1]
        metrics[str(tier)], margins[str(tier)] = evidence(y_test, p, 0.5, n_boot)
        probabilities[str(tier)] = p
    return UpdateFit(model, metrics, margins, probabilities)


def champion_metrics_by_tier(model, training: UpdateTrainingSet) -> dict[str, dict[str, float]]:
    """A serving update model's figures on the candidate's test slice, per tier."""
    out = {}
    for tier in UPDATE_TIERS:
        X_test, y_test = training.part("test", tier)
        out[str(tier)] = metrics_from_probabilities(
            y_test, np.asarray(model.predict_proba(X_test))[:, 1]
        )
    return out


@dataclass(frozen=True)
class UpdateTrainingOutcome:
    model_name: str
    model_version: str
    run_id: str
    experiment_id: str
    metrics_by_tier: dict[str, dict[str, float]]
    margins_by_tier: dict[str, dict[str, float]]
    champion_by_tier: dict[str, dict[str, float]] | None
    champion_note: str
    trained_on: Provenance


def train_and_log_update(
    training: UpdateTrainingSet,
    *,
    tracking_uri: str,
    artifact_root: str | None,
    model_name: str,
    params: ModelParams = UPDATE_PARAMS,
) -> UpdateTrainingOutcome:
    """Fit, measure against the serving update model of the same source, and log one MLflow run
    (experiment `model_name`) that registers a new version of `model_name`."""
    import mlflow.models
    import mlflow.sklearn

    import mlflow
    from viral_pipeline.engine.model.provenance import TAG_PREFIX, learned_source, provenance_from
    from viral_pipeline.ml import plots
    from viral_pipeline.ml.tracking import champion_version, client, ensure_experiment
    from viral_pipeline.ml.training import _pip_requirements

    experiment_id = ensure_experiment(tracking_uri, model_name, artifact_root)
    mlflow_client = client(tracking_uri)
    fit = fit_update_model(training, params)
    champion = champion_version(mlflow_client, model_name)
    champion_by_tier, note = None, "no update model serves yet"
    if champion is not None:
        if learned_source(
            provenance_from(champion.tags, prefix=TAG_PREFIX), training.provenance.source
        ):
            served = mlflow.sklearn.load_model(f"models:/{model_name}/{champion.version}")
            champion_by_tier = champion_metrics_by_tier(served, training)
            note = f"compared with update model v{champion.version} on the same test slice"
        else:
            note = f"update model v{champion.version} learned another source: counts as none"
    X_test, _ = training.part("test")
    with mlflow.start_run(experiment_id=experiment_id) as run:
        mlflow.log_params({**params.as_dict(), "viral_quantile": training.quantile})
        for tier, metrics in fit.metrics_by_tier.items():
            mlflow.log_metrics({f"{key}_{tier}": float(v) for key, v in metrics.items()})
        mlflow.set_tags(
            {
                **{
                    f"{part}_rows": int((training.frame["part"] == part).sum())
                    for part in ("train", "calibration", "test")
                },
                **training.provenance.as_tags(),
            }
        )
        with tempfile.TemporaryDirectory() as folder:
            for tier, p in fit.test_probabilities.items():
                _, y_test = training.part("test", tier)
                path = Path(folder) / f"reliability_diagram_{tier}.png"
                mlflow.log_artifact(str(plots.reliability_diagram_png(y_test, p, path)), "plots")
        info = mlflow.sklearn.log_model(
            fit.model,
            name="model",
            serialization_format="cloudpickle",
            signature=mlflow.models.infer_signature(X_test, fit.model.predict_proba(X_test)[:, 1]),
            registered_model_name=model_name,
            pip_requirements=_pip_requirements(),
        )
    version = str(info.registered_model_version)
    for key, value in training.provenance.as_tags().items():
        mlflow_client.set_model_version_tag(model_name, version, key, value)
    return UpdateTrainingOutcome(
        model_name=model_name,
        model_version=version,
        run_id=run.info.run_id,
        experiment_id=experiment_id,
        metrics_by_tier=fit.metrics_by_tier,
        margins_by_tier=fit.margins_by_tier,
        champion_by_tier=champion_by_tier,
        champion_note=note,
        trained_on=training.provenance,
    )
