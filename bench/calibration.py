"""Calibration: ECE of the served probability before any Platt fit, and of the aggregate before and
after Platt scaling, on held-out simulated videos.

1. A model is trained as `bench/model_quality.py` trains it: `--train-days` simulated days go
   through the production path into a temporary SQLite database (ingest_items ->
   compute_trending_sounds -> load_labelled_videos), then the `training_set` assembly and
   train_calibrated with choose_threshold's decision threshold.
2. Each repeat takes a later simulated day (`generate_day`), keeps its first `--videos` valid,
   non-slideshow videos, and scores them in batch with the engine the `predict` job runs:
   normalize -> score_rules, score_trends (against load_trend_snapshot of that database) -> the
   model's probability as the ml signal (one predict_proba for the whole batch) -> aggregate with
   the configured weights; no LLM judge (both unavailable, as without keys). The outcome of each
   video is the simulated day's top-decile label (plays strictly above the day's 90th percentile).
3. The videos split at random in half: Platt (fit_platt, Platt's smoothed targets) is fitted on
   one half; everything is measured on the other (the held-out half), with 10 equal-width and 10
   equal-mass bins (expected_calibration_error), and the noise floor of a perfectly calibrated
   model with the same predictions at that n (ece_noise_floor with y_prob):
   - served before any Platt fit: what a user gets while no outcome-fitted Platt parameters
     exist, i.e. `viral_probability` as production computes it, by calling
     `served_probability(raw, None, model_probability, None)` (viral_pipeline.engine.calibration.platt) for
     each video; with a champion serving this is the champion's own probability
     (probability_source "champion_model"). For contrast, the raw aggregate probability (score /
     100), which is what `viral_probability` was before (the old behaviour);
   - after Platt: apply_platt of the raw aggregate with the parameters fitted on the other half
     (probability_source "outcome_calibration").

4. The update after early views: the update model is trained as the `update_model` asset trains it
   (viral_pipeline/ml/early_view_training.py: the simulated world's view curves of
   `--update-train-days` days before the scoring days, Platt on held-out days), then scored on the
   scoring days' trajectories at each update tier (24 h, 72 h) against the 7-day label; its ECE
   (same bins) and ROC AUC print beside the pre-posting model's (the served probability above).

Targets (equal-width bins, medians over the repeats):
  served before any Platt fit: median ECE <= max(0.02, 1.5 x median noise floor of the served probability);
  after Platt:                 median ECE <= 0.02.

Run from the repo root:  .venv/bin/python bench/calibration.py [--videos 5000] [--repeats 5] [--train-days 20]
                         [--update-train-days 20] [--update-videos-per-day 800]
                         [--videos-per-day 2000] [--start 2025-03-03]
"""

from __future__ import annotations

import argparse
import logging
import os
import statistics
import subprocess
import sys
import tempfile
import time
import warnings
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run as a script from anywhere

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from viral_pipeline.engine.calibration.maths import (  # noqa: E402
    apply_platt,
    ece_noise_floor,
    expected_calibration_error,
    fit_platt,
)
from viral_pipeline.engine.calibration.platt import served_probability  # noqa: E402
from viral_pipeline.engine.calibration.platt_fit import N_BINS  # noqa: E402
from viral_pipeline.engine.inputs.items import VideoRecord, parse_item  # noqa: E402
from viral_pipeline.engine.inputs.request import AnalyzeRequest, model_row, normalize  # noqa: E402
from viral_pipeline.engine.model.classifier import choose_threshold, train_calibrated  # noqa: E402
from viral_pipeline.engine.model.early_views import UPDATE_FEATURE_COLUMNS  # noqa: E402
from viral_pipeline.engine.model.features import build_features  # noqa: E402
from viral_pipeline.engine.model.labels import label_top_decile, window_key  # noqa: E402
from viral_pipeline.engine.signals.aggregate import Signal, aggregate, ml_score  # noqa: E402
from viral_pipeline.engine.signals.rules import score_rules  # noqa: E402
from viral_pipeline.engine.signals.trends_match import score_trends, sound_trend_score  # noqa: E402
from viral_pipeline.engine.world.simulated import generate_day, iter_days, roc_auc  # noqa: E402
from viral_pipeline.ml.dataset import assemble_training_set  # noqa: E402
from viral_pipeline.ml.early_view_training import (  # noqa: E402
    fit_update_model,
    simulated_trajectories,
)
from viral_pipeline.ml.fallback import load_fallback_frame  # noqa: E402
from viral_pipeline.settings import Settings  # noqa: E402
from viral_pipeline.store.db import ready_engine  # noqa: E402
from viral_pipeline.store.training import load_labelled_videos  # noqa: E402
from viral_pipeline.store.trend_snapshot import load_trend_snapshot  # noqa: E402
from viral_pipeline.store.trends import compute_trending_sounds  # noqa: E402
from viral_pipeline.store.videos import ingest_items  # noqa: E402

TARGET_ECE = 0.02  # after Platt
SERVED_TARGET_ECE = (
    0.02  # served before any Platt fit: max(this, SERVED_FLOOR_FACTOR x noise floor)
)
SERVED_FLOOR_FACTOR = 1.5
START = date(2025, 3, 3)
NO_KEY = {
    name: Signal.unavailable(name, f"{name.upper()}_API_KEY not set")
    for name in ("gemini", "deepseek")
}


def train(engine, start: date, days: int, per_day: int):  # type: ignore[no-untyped-def]
    """The champion a predict run would serve: (model, decision threshold)."""
    end = datetime.combine(start + timedelta(days=days), datetime.min.time(), tzinfo=UTC)
    for day in iter_days(start, days, per_day):
        ingest_items(engine, day.items, source="bench", batch=f"sim-{day.day}", now=end)
    compute_trending_sounds(engine)
    labelled = load_labelled_videos(engine, now=end + timedelta(days=1))
    ts = assemble_training_set(
        labelled, fallback=load_fallback_frame(), min_rows=500, quantile=0.9, window_days=1
    )
    model = train_calibrated(*ts.part("train"), *ts.part("calibration"))
    X_calib, y_calib = ts.part("calibration")
    return model, choose_threshold(y_calib, model.predict_proba(X_calib)[:, 1])


def as_request(record: VideoRecord) -> AnalyzeRequest:
    """What a creator would have posted to /api/analyze before publishing this video."""
    sound = None
    if record.music_name or record.music_id:
        sound = {
            "name": (record.music_name or "")[:200] or None,
            "author": (record.music_author or "")[:200] or None,
            "id": record.music_id,
            "original": record.music_original,
        }
    return AnalyzeRequest.model_validate(
        {
            "caption": record.caption[:2200] if record.caption.strip() else "(no caption)",
            "hashtags": [tag for tag in record.hashtags if tag.strip() and " " not in tag][:30],
            "sound": sound,
            "duration_s": min(600, record.duration_s),
            "posted_at": record.posted_at.isoformat(),  # the API takes ISO-8601 text
            "creator": {
                "handle": record.author_handle[:64],
                "followers": record.author_followers,
                "verified": record.author_verified,
            },
        }
    )


def videos_of(day: date, n: int) -> list[VideoRecord]:
    """The day's first n valid videos (malformed items and slideshows dropped, as the API would)."""
    now = datetime.combine(day + timedelta(days=2), datetime.min.time(), tzinfo=UTC)
    records = [
        r
        for r in (parse_item(item, now=now) for item in generate_day(day, int(n * 1.15)).items)
        if isinstance(r, VideoRecord) and not r.is_slideshow and r.duration_s >= 1
    ]
    if len(records) < n:
        raise SystemExit(f"only {len(records)} valid videos on {day}; lower --videos")
    return records[:n]


def served_row(engine, request, trend_score: float) -> dict:  # type: ignore[no-untyped-def]
    """The row the `ml` op scores for `request`: its creator's history and its hashtags' recent
    uses read from the database as a predict run reads them."""
    from viral_pipeline.engine.model.content import topic_tags
    from viral_pipeline.engine.model.creator_history import history_of
    from viral_pipeline.store.content_uses import recent_tag_uses
    from viral_pipeline.store.creator_history import prior_videos

    at = request.posted_at
    prior = prior_videos(engine, request.creator_handle, at, window_days=1)
    history = history_of(prior, at, quantile=0.9, window_days=1)
    uses = recent_tag_uses(engine, topic_tags(request.hashtags), at)
    return model_row(request, trend_score, history, uses)


def score_batch(
    engine, model, threshold: float, records: list[VideoRecord], weights: dict[str, float]
):  # type: ignore[no-untyped-def]
    """Raw aggregate probabilities, the model's probabilities (what the `ml` op passes on as
    ml_probability) and the day's top-decile labels of the records."""
    requests = [normalize(as_request(r), now=r.posted_at) for r in records]
    snapshot = load_trend_snapshot(engine, as_of=requests[0].posted_at.date())
    trends = [score_trends(req, snapshot) for req in requests]
    rows = [served_row(engine, req, sound_trend_score(req, snapshot)) for req in requests]
    probabilities = model.predict_proba(build_features(pd.DataFrame(rows)))[:, 1]
    raw = np.empty(len(requests))
    for k, (req, trend, p) in enumerate(zip(requests, trends, probabilities)):
        signals = {
            "rules": score_rules(req),
            "trends": trend,
            "ml": Signal("ml", ml_score(float(p), threshold), True),
            **NO_KEY,
        }
        raw[k] = aggregate(signals, weights).raw_probability
    plays = pd.Series([r.play_count for r in records], dtype=float)
    posted = pd.Series(pd.to_datetime([r.posted_at for r in records], utc=True))
    labels = label_top_decile(plays, window_key(posted), 0.9)[0].to_numpy(bool)
    return raw, probabilities, labels


def served_target(floor: float) -> float:
    """The served probability's ECE target for a given noise floor."""
    return max(SERVED_TARGET_ECE, SERVED_FLOOR_FACTOR * floor)


def served_before_platt(raw: np.ndarray, model_probability: np.ndarray) -> np.ndarray:
    """viral_probability as production serves it while no outcome-fitted Platt parameters exist."""
    served = [
        served_probability(float(r), None, float(p), None) for r, p in zip(raw, model_probability)
    ]
    sources = {s.source for s in served}
    if sources != {"champion_model"} or any(s.probability is None for s in served):
        raise SystemExit(
            f"served_probability without Platt parameters gave sources {sources}, expected champion_model"
        )
    return np.array([s.probability for s in served], dtype=float)


def one_repeat(engine, model, threshold, day: date, n: int, weights, seed: int) -> dict[str, float]:  # type: ignore[no-untyped-def]
    started = time.perf_counter()
    raw, model_probability, labels = score_batch(
        engine, model, threshold, videos_of(day, n), weights
    )
    scored_s = time.perf_counter() - started
    order = np.random.default_rng(seed).permutation(raw.size)
    fit_idx, held = order[: raw.size // 2], order[raw.size // 2 :]
    a, b = fit_platt(raw[fit_idx], labels[fit_idx])
    after = apply_platt(raw[held], a, b)
    served = served_before_platt(raw[held], model_probability[held])
    y = labels[held]
    figures = {
        "n_fit": float(fit_idx.size),
        "n_held": float(held.size),
        "base_rate": float(labels.mean()),
        "a": a,
        "b": b,
        "before": expected_calibration_error(y, raw[held], N_BINS, "uniform"),
        "after": expected_calibration_error(y, after, N_BINS, "uniform"),
        "before_mass": expected_calibration_error(y, raw[held], N_BINS, "quantile"),
        "after_mass": expected_calibration_error(y, after, N_BINS, "quantile"),
        "floor": ece_noise_floor(held.size, N_BINS, y_prob=after),
        "floor_mass": ece_noise_floor(held.size, N_BINS, y_prob=after, strategy="quantile"),
        "served": expected_calibration_error(y, served, N_BINS, "uniform"),
        "served_mass": expected_calibration_error(y, served, N_BINS, "quantile"),
        "served_floor": ece_noise_floor(held.size, N_BINS, y_prob=served),
        "served_floor_mass": ece_noise_floor(held.size, N_BINS, y_prob=served, strategy="quantile"),
        "served_mean": float(served.mean()),
        "served_auc": roc_auc(served, y),
        "held_rate": float(y.mean()),
        "raw_min": float(raw.min()),
        "raw_max": float(raw.max()),
        "scored_s": scored_s,
    }
    target = served_target(figures["served_floor"])
    print(
        f"  {day}: n {raw.size} (fit {fit_idx.size}, held out {held.size}), base rate {figures['base_rate']:.3f}, "
        f"raw probability {figures['raw_min']:.3f}..{figures['raw_max']:.3f}; a {a:.3f}, b {b:.3f}; scored in "
        f"{scored_s:.1f} s"
    )
    print(
        f"    served before any Platt fit (champion_model): ECE equal-width {figures['served']:.4f} (noise floor "
        f"{figures['served_floor']:.4f}), equal-mass {figures['served_mass']:.4f} (floor "
        f"{figures['served_floor_mass']:.4f}); mean {figures['served_mean']:.3f} vs rate {figures['held_rate']:.3f} | "
        f"old raw aggregate: ECE equal-width {figures['before']:.4f}, equal-mass {figures['before_mass']:.4f}"
    )
    print(
        f"    after Platt: ECE equal-width {figures['after']:.4f} (noise floor {figures['floor']:.4f}), equal-mass "
        f"{figures['after_mass']:.4f} (floor {figures['floor_mass']:.4f})"
    )
    print(
        f"    verdict: served before Platt {figures['served']:.4f} <= {target:.4f} "
        f"{'PASS' if figures['served'] <= target else 'FAIL'}; after Platt {figures['after']:.4f} <= {TARGET_ECE} "
        f"{'PASS' if figures['after'] <= TARGET_ECE else 'FAIL'}"
    )
    return figures


def update_figures(first: date, repeats: int, n: int, train_days: int, per_day: int) -> dict:
    """The update model (trained as update_model trains it, on `train_days` simulated days before
    `first`) on the scoring days' trajectories, per update tier: ECE (the bins used above) with its
    noise floor, and ROC AUC, against the 7-day label."""
    began = time.perf_counter()
    training = simulated_trajectories(
        first - timedelta(days=1), train_days, per_day, quantile=0.9, window_days=1
    )
    model = fit_update_model(training, n_boot=20).model
    scoring = simulated_trajectories(
        first + timedelta(days=repeats - 1), repeats, int(n * 1.15), quantile=0.9, window_days=1
    )
    print(
        f"update model trained on {train_days} days x {per_day} videos before {first} in "
        f"{time.perf_counter() - began:.0f} s; scored on the {repeats} scoring days' trajectories"
    )
    out = {}
    for tier in ("24h", "72h"):
        rows = scoring.frame[scoring.frame["tier"] == tier]
        X, y = rows[list(UPDATE_FEATURE_COLUMNS)], rows["viral_7d"].to_numpy(int)
        p = model.predict_proba(X)[:, 1]
        out[tier] = {
            "n": float(len(y)),
            "ece": expected_calibration_error(y, p, N_BINS, "uniform"),
            "floor": ece_noise_floor(len(y), N_BINS, y_prob=p),
            "auc": roc_auc(p, y),
        }
    return out


def commit() -> str:
    """The checked-out commit (the simulator's world can change between commits), with '+dirty' if edited."""
    root = Path(__file__).resolve().parent.parent
    try:
        head = subprocess.run(
            ["git", "log", "-1", "--format=%h"],
            cwd=root,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--", "viral_pipeline"],
            cwd=root,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return f"{head}+dirty" if dirty else head


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--videos", type=int, default=5000)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--train-days", type=int, default=20)
    parser.add_argument("--videos-per-day", type=int, default=2000, help="training days' size")
    parser.add_argument("--update-train-days", type=int, default=20)
    parser.add_argument("--update-videos-per-day", type=int, default=800)
    parser.add_argument(
        "--start",
        type=date.fromisoformat,
        default=START,
        help="first training day; scoring days follow the training days (vary it between runs)",
    )
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    warnings.filterwarnings("ignore", category=UserWarning)
    print(
        f"load average at start: {os.getloadavg()[0]:.2f}; commit {commit()} (the simulated world measured)"
    )
    weights = Settings().signal_weights
    with tempfile.TemporaryDirectory(prefix="bench_calibration_") as folder:
        engine = ready_engine(f"sqlite:///{folder}/bench.db")
        try:
            began = time.perf_counter()
            model, threshold = train(engine, args.start, args.train_days, args.videos_per_day)
            print(
                f"trained on {args.train_days} days x {args.videos_per_day} videos from {args.start} in "
                f"{time.perf_counter() - began:.0f} s (decision threshold {threshold:.3f}); weights {weights}"
            )
            print(
                f"== {args.repeats} scoring days x {args.videos} videos, Platt fit on half, ECE on the other half; "
                f"targets (median, equal-width): served before any Platt fit <= max({SERVED_TARGET_ECE}, "
                f"{SERVED_FLOOR_FACTOR} x noise floor), after Platt <= {TARGET_ECE}"
            )
            first = args.start + timedelta(days=args.train_days)
            runs = [
                one_repeat(
                    engine,
                    model,
                    threshold,
                    first + timedelta(days=k),
                    args.videos,
                    weights,
                    seed=k,
                )
                for k in range(args.repeats)
            ]
        finally:
            engine.dispose()
    median = {key: statistics.median(run[key] for run in runs) for key in runs[0]}
    afters = [run["after"] for run in runs]
    serveds = [run["served"] for run in runs]
    target = served_target(median["served_floor"])
    served_pass = median["served"] <= target
    print(f"\nmedian over {len(runs)} days, held-out n {int(median['n_held'])}:")
    print(
        f"served before any Platt fit (served_probability -> champion_model): ECE equal-width {median['served']:.4f} "
        f"(range {min(serveds):.4f}..{max(serveds):.4f}; noise floor {median['served_floor']:.4f}) | equal-mass "
        f"{median['served_mass']:.4f} (floor {median['served_floor_mass']:.4f}) | old raw aggregate: equal-width "
        f"{median['before']:.4f}, equal-mass {median['before_mass']:.4f}"
    )
    print(
        f"VERDICT served before any Platt fit: median ECE {median['served']:.4f} <= max({SERVED_TARGET_ECE}, "
        f"{SERVED_FLOOR_FACTOR} x {median['served_floor']:.4f}) = {target:.4f} -> {'PASS' if served_pass else 'FAIL'}"
    )
    print(
        f"after Platt: ECE equal-width before {median['before']:.4f} -> after {median['after']:.4f} "
        f"(range {min(afters):.4f}..{max(afters):.4f}; "
        f"noise floor {median['floor']:.4f} at n {int(median['n_held'])}) | "
        f"equal-mass before {median['before_mass']:.4f} -> after {median['after_mass']:.4f} (floor "
        f"{median['floor_mass']:.4f})"
    )
    print(
        f"VERDICT after Platt: median ECE {median['after']:.4f} <= {TARGET_ECE} -> "
        f"{'PASS' if median['after'] <= TARGET_ECE else 'FAIL'}"
    )
    updates = update_figures(
        first, args.repeats, args.videos, args.update_train_days, args.update_videos_per_day
    )
    print(
        "\nprobability of viral at 7 d, pre-posting vs updated after early views (equal-width ECE):"
    )
    print(
        f"  pre-posting (champion_model, median of days): ROC AUC {median['served_auc']:.4f}, "
        f"ECE {median['served']:.4f} (noise floor {median['served_floor']:.4f})"
    )
    for tier, figures in updates.items():
        print(
            f"  updated at {tier} (n {int(figures['n'])}): ROC AUC {figures['auc']:.4f}, "
            f"ECE {figures['ece']:.4f} (noise floor {figures['floor']:.4f})"
        )
    print(f"load average at end: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
