"""Learned signal weights against the fixed ones, on simulated outcomes.

1. A champion is trained as `bench/calibration.py` trains it (`--train-days` simulated days
   through the production path into a temporary SQLite database, then the training_set assembly
   and train_calibrated).
2. For each seed k, two later simulated days: an outcome day and an evaluation day. Their videos
   are scored with the engine the `predict` job runs (rules, trends against that database's
   trend snapshot, the champion's probability as the ml signal; no LLM judge, as without keys),
   and each video's outcome is its day's top-decile label. With `--noise-judges` both judges
   answer scores drawn independently of the video: what the fixed weights' 0.30 share of judges
   costs when the judges carry no information.
3. From the outcome day, `n` outcomes are drawn (seeded by k) for each `--sizes` n, and
   `fit_learned_weights` runs on them as `signal_weights_fit` does:
   - cross-fitted (5 folds, held out): the learned weights' log loss and Brier against the fixed
     weights' aggregate Platt-calibrated in the same folds, and whether learned_weights_beat_fixed
     passes;
   - on the evaluation day (fresh videos, never fitted on): the learned weights fitted on all n
     outcomes against Platt fitted on the same n outcomes' fixed aggregate.
Figures are medians over the seeds.

Run from the repo root:  .venv/bin/python bench/learned_weights.py [--seeds 5] [--sizes 50,200,1000,5000]
                         [--noise-judges]
                         [--eval-videos 5000] [--train-days 20] [--videos-per-day 2000] [--start 2025-03-03]
"""

from __future__ import annotations

import argparse
import logging
import os
import statistics
import sys
import tempfile
import time
import warnings
from datetime import date, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run as a script from anywhere

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from bench.calibration import START, as_request, commit, served_row, train, videos_of  # noqa: E402
from viral_pipeline.engine.calibration.maths import apply_platt, fit_platt  # noqa: E402
from viral_pipeline.engine.inputs.request import normalize  # noqa: E402
from viral_pipeline.engine.model.features import build_features  # noqa: E402
from viral_pipeline.engine.model.labels import label_top_decile, window_key  # noqa: E402
from viral_pipeline.engine.signals.aggregate import SIGNALS, ml_score  # noqa: E402
from viral_pipeline.engine.signals.learned_weights import design_matrix  # noqa: E402
from viral_pipeline.engine.signals.learned_weights_fit import (  # noqa: E402
    brier,
    fit_learned_weights,
    fixed_raw_probabilities,
    log_loss,
    weights_verdict,
)
from viral_pipeline.engine.signals.rules import score_rules  # noqa: E402
from viral_pipeline.engine.signals.trends_match import score_trends, sound_trend_score  # noqa: E402
from viral_pipeline.settings import Settings  # noqa: E402
from viral_pipeline.store.db import ready_engine  # noqa: E402
from viral_pipeline.store.trend_snapshot import load_trend_snapshot  # noqa: E402


def signal_scores(engine, model, threshold: float, day: date, n: int, noise_judges: bool = False):  # type: ignore[no-untyped-def]
    """(scores (n, 5); top-decile labels) of the day's first n valid videos. The judges are
    unavailable (NaN), or with `noise_judges` both answer a score drawn independently of the video
    (uniform 0..100, seeded by the day): judges that carry no information."""
    records = videos_of(day, n)
    requests = [normalize(as_request(r), now=r.posted_at) for r in records]
    snapshot = load_trend_snapshot(engine, as_of=requests[0].posted_at.date())
    rows = [served_row(engine, req, sound_trend_score(req, snapshot)) for req in requests]
    probabilities = model.predict_proba(build_features(pd.DataFrame(rows)))[:, 1]
    scores = np.full((len(requests), len(SIGNALS)), np.nan)
    for k, (req, p) in enumerate(zip(requests, probabilities)):
        scores[k, 0] = score_rules(req).score
        scores[k, 1] = score_trends(req, snapshot).score
        scores[k, 2] = ml_score(float(p), threshold)
    if noise_judges:
        scores[:, 3:] = np.random.default_rng(day.toordinal()).uniform(0, 100, (len(requests), 2))
    plays = pd.Series([r.play_count for r in records], dtype=float)
    posted = pd.Series(pd.to_datetime([r.posted_at for r in records], utc=True))
    labels = label_top_decile(plays, window_key(posted), 0.9)[0].to_numpy(float)
    return scores, labels


def one_fit(scores, labels, evaluation, weights, n: int, seed: int) -> dict[str, float]:  # type: ignore[no-untyped-def]
    picked = np.random.default_rng(seed).choice(labels.size, size=n, replace=False)
    s, y = scores[picked], labels[picked]
    raw = fixed_raw_probabilities(s, weights)
    fit = fit_learned_weights(s, raw, y, seed=seed)
    eval_scores, eval_labels = evaluation
    learned = 1 / (1 + np.exp(-(fit.intercept + design_matrix(eval_scores) @ fit.coefficients)))
    a, b = fit_platt(raw, y)
    fixed = apply_platt(fixed_raw_probabilities(eval_scores, weights), a, b)
    return {
        "cv_log_loss_learned": fit.log_loss,
        "cv_log_loss_fixed": fit.log_loss_fixed,
        "cv_brier_learned": fit.brier,
        "cv_brier_fixed": fit.brier_fixed,
        "passed": float(weights_verdict(fit).passed),
        "eval_log_loss_learned": log_loss(eval_labels, learned),
        "eval_log_loss_fixed": log_loss(eval_labels, fixed),
        "eval_brier_learned": brier(eval_labels, learned),
        "eval_brier_fixed": brier(eval_labels, fixed),
        "score_rules": fit.coefficient("score_rules"),
        "score_trends": fit.coefficient("score_trends"),
        "score_ml": fit.coefficient("score_ml"),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument(
        "--sizes", default="50,200,1000,5000", help="outcomes per fit, comma-separated"
    )
    parser.add_argument("--eval-videos", type=int, default=5000)
    parser.add_argument("--train-days", type=int, default=20)
    parser.add_argument("--videos-per-day", type=int, default=2000, help="training days' size")
    parser.add_argument("--start", type=date.fromisoformat, default=START)
    parser.add_argument(
        "--noise-judges",
        action="store_true",
        help="both LLM judges answer scores that carry no information (default: no keys, unavailable)",
    )
    args = parser.parse_args()
    sizes = [int(size) for size in args.sizes.split(",")]
    logging.basicConfig(level=logging.WARNING)
    warnings.filterwarnings("ignore", category=UserWarning)
    print(
        f"load average at start: {os.getloadavg()[0]:.2f}; commit {commit()} (the simulated world measured)"
    )
    weights = Settings().signal_weights
    runs: dict[int, list[dict[str, float]]] = {n: [] for n in sizes}
    with tempfile.TemporaryDirectory(prefix="bench_learned_weights_") as folder:
        engine = ready_engine(f"sqlite:///{folder}/bench.db")
        try:
            began = time.perf_counter()
            model, threshold = train(engine, args.start, args.train_days, args.videos_per_day)
            print(
                f"trained on {args.train_days} days x {args.videos_per_day} videos from {args.start} in "
                f"{time.perf_counter() - began:.0f} s (decision threshold {threshold:.3f}); fixed weights {weights}"
            )
            first = args.start + timedelta(days=args.train_days)
            for k in range(args.seeds):
                outcome_day, eval_day = (
                    first + timedelta(days=2 * k),
                    first + timedelta(days=2 * k + 1),
                )
                pool = signal_scores(
                    engine, model, threshold, outcome_day, max(sizes), args.noise_judges
                )
                evaluation = signal_scores(
                    engine, model, threshold, eval_day, args.eval_videos, args.noise_judges
                )
                for n in sizes:
                    figures = one_fit(*pool, evaluation, weights, n, seed=k)
                    runs[n].append(figures)
                    print(
                        f"  seed {k} ({outcome_day}, evaluated on {eval_day}) n {n}: cross-fitted log loss learned "
                        f"{figures['cv_log_loss_learned']:.4f} / fixed {figures['cv_log_loss_fixed']:.4f}, Brier "
                        f"{figures['cv_brier_learned']:.4f} / {figures['cv_brier_fixed']:.4f}, gate "
                        f"{'PASS' if figures['passed'] else 'FAIL'}; fresh day log loss "
                        f"{figures['eval_log_loss_learned']:.4f} / {figures['eval_log_loss_fixed']:.4f}, Brier "
                        f"{figures['eval_brier_learned']:.4f} / {figures['eval_brier_fixed']:.4f}; coefficients "
                        f"rules {figures['score_rules']:.2f}, trends {figures['score_trends']:.2f}, ml "
                        f"{figures['score_ml']:.2f}"
                    )
        finally:
            engine.dispose()
    judges = "two judges of pure noise" if args.noise_judges else "no judge (no keys)"
    print(
        f"\n{judges}; median over {args.seeds} seeds (learned / fixed + Platt; fresh day: "
        f"{args.eval_videos} videos):"
    )
    print(
        "| outcomes | cross-fitted log loss | cross-fitted Brier | gate passes | fresh-day log loss | fresh-day Brier |"
    )
    print("|---|---|---|---|---|---|")
    for n in sizes:
        median = {key: statistics.median(run[key] for run in runs[n]) for key in runs[n][0]}
        passes = sum(int(run["passed"]) for run in runs[n])
        print(
            f"| {n} | {median['cv_log_loss_learned']:.4f} / {median['cv_log_loss_fixed']:.4f} | "
            f"{median['cv_brier_learned']:.4f} / {median['cv_brier_fixed']:.4f} | {passes} of {len(runs[n])} | "
            f"{median['eval_log_loss_learned']:.4f} / {median['eval_log_loss_fixed']:.4f} | "
            f"{median['eval_brier_learned']:.4f} / {median['eval_brier_fixed']:.4f} |"
        )
    print(f"load average at end: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
