"""Training cost: seconds and peak memory to featurize, train and evaluate 100,000 and 1,000,000 rows.

Data: DAYS simulated past days (`generate_day`, size / DAYS videos a day) parsed with `parse_item`
(malformed items dropped) into the columns `load_labelled_videos` returns, with no database:
`sound_trend_score` stands in for the SQL's (percent rank of the sound's uses the day before).
Labels: `label_top_decile` per UTC day. Made once per size, pickled to a temporary folder.

Each run is a fresh subprocess that loads the pickle and times, separately: `build_features`
(+ labels), `time_creator_split` (for information: the rows it would keep), `train_calibrated`
(fit + Platt calibration) on a 60/20/20 split by posting time, and `evaluate` on the test slice.
Memory (MiB): the current RSS with the data loaded and just before training, and the peak RSS
(`ru_maxrss`) of each step: the peak is reset between steps (Linux clear_refs), so "after
training" is the training step's own peak. Sizes up to 200,000 rows run `--repeats` times
(median, min..max); larger ones `--large-repeats` times (default once).

Target: none fixed; read the seconds and MiB, and the 1M/100k time ratio (10 would be linear).

Run from the repo root:  .venv/bin/python bench/train.py [--sizes 100000,1000000] [--repeats 3]
                         [--large-repeats 1] [--threads N]
"""

from __future__ import annotations

import argparse
import json
import logging
import operator
import os
import pickle
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # run as a script from anywhere

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

DAYS = 25
START = date(2025, 3, 3)
SMALL = 200_000  # sizes up to this run --repeats times


def _status_mib(field: str) -> float:
    """VmRSS (current) or VmHWM (peak) of this process, MiB (Linux /proc)."""
    for row in Path("/proc/self/status").read_text().splitlines():
        if row.startswith(field + ":"):
            return int(row.split()[1]) / 1024
    return float("nan")


def _peak_mib(reset: bool = True) -> float:
    """This process's peak RSS so far (VmHWM), then reset it to the current RSS (Linux >= 4.0)."""
    peak = _status_mib("VmHWM")
    if reset:
        Path("/proc/self/clear_refs").write_text("5")
    return peak


def make_frame(rows: int) -> pd.DataFrame:
    """About `rows` labelled-video rows over DAYS simulated days, straight from parsed items."""
    from viral_pipeline.engine.inputs.items import VideoRecord, parse_item
    from viral_pipeline.engine.world.simulated import generate_day

    now = datetime.combine(START + timedelta(days=DAYS + 1), datetime.min.time(), tzinfo=UTC)
    per_day = -(-int(rows / 0.98) // DAYS)  # ~1.5% malformed items are dropped; the surplus is cut
    fields = (
        "video_id",
        "author_id",
        "posted_at",
        "play_count",
        "caption",
        "hashtags",
        "music_id",
        "music_original",
        "duration_s",
        "is_slideshow",
        "author_followers",
        "author_verified",
    )
    values = operator.attrgetter(*fields)
    records = [
        values(r)
        for k in range(DAYS)
        for r in map(
            lambda item: parse_item(item, now=now),
            generate_day(START + timedelta(days=k), per_day).items,
        )
        if isinstance(r, VideoRecord)
    ]
    frame = pd.DataFrame(records, columns=fields).head(rows)
    frame = frame.rename(columns={"author_followers": "followers", "author_verified": "verified"})
    # As load_labelled_videos: no sound -> None; a sound of unreported originality -> False.
    frame["sound_original"] = [
        None if pd.isna(m) else o is True
        for m, o in zip(frame["music_id"], frame["music_original"])
    ]
    frame["posted_at"] = pd.to_datetime(frame["posted_at"], utc=True)
    frame["followers"] = frame["followers"].astype(float)
    # Stand-in for trending_sounds.trend_score of the day before posting.
    day = frame["posted_at"].dt.floor("D")
    uses = frame.groupby([frame["music_id"], day]).size().rename("uses").reset_index()
    by_day = uses.groupby("posted_at")[
        "uses"
    ]  # PERCENT_RANK: (rank - 1) / (n - 1), ties share the lowest
    uses["score"] = (
        (by_day.rank(method="min") - 1) / (by_day.transform("size") - 1).clip(lower=1)
    ).astype(float)
    uses["posted_at"] += pd.Timedelta(days=1)
    lookup = uses.set_index(["music_id", "posted_at"])["score"]
    keys = pd.MultiIndex.from_arrays([frame["music_id"], day])
    frame["sound_trend_score"] = lookup.reindex(keys).fillna(0.0).to_numpy()
    return frame.drop(columns=["music_id", "music_original"])


def child(path: str) -> None:
    """One measured run over the pickled frame; prints one JSON line."""
    from viral_pipeline.engine.model.classifier import evaluate, train_calibrated
    from viral_pipeline.engine.model.features import build_features
    from viral_pipeline.engine.model.labels import label_top_decile, window_key
    from viral_pipeline.engine.model.split import time_creator_split
    from viral_pipeline.ml.dataset import with_creator_history

    rss_imports = _status_mib("VmRSS")
    raw = pd.read_pickle(path)
    out = {
        "rows": len(raw),
        "rss_imports": rss_imports,
        "rss_data": _status_mib("VmRSS"),
        "peak_load": _peak_mib(),
    }
    started = time.perf_counter()
    labels, _ = label_top_decile(raw["play_count"], window_key(raw["posted_at"]))
    # Every feature group a training row carries, the creator history included.
    X = build_features(with_creator_history(raw, labels, window_days=1))
    out["features_s"], out["peak_features"] = time.perf_counter() - started, _peak_mib()
    started = time.perf_counter()
    try:
        split = time_creator_split(
            pd.DataFrame(
                {"posted_at": raw["posted_at"], "author_id": raw["author_id"], "viral": labels}
            )
        )
        out["creator_split"] = f"would keep {len(split.train):,} training rows"
    except ValueError as error:
        split, out["creator_split"] = None, f"fails: {error}"
    out["creator_split_s"] = time.perf_counter() - started
    order = np.argsort(raw["posted_at"].to_numpy(), kind="stable")
    a, b = int(len(order) * 0.6), int(len(order) * 0.8)
    parts = [(X.iloc[i], labels.iloc[i]) for i in (order[:a], order[a:b], order[b:])]
    del raw, split
    out["rss_before_train"], out["peak_split"] = _status_mib("VmRSS"), _peak_mib()
    started, cpu = time.perf_counter(), time.process_time()
    model = train_calibrated(*parts[0], *parts[1])
    out["train_s"], out["train_cpu_s"] = time.perf_counter() - started, time.process_time() - cpu
    out["peak_after_train"] = _peak_mib(reset=False)
    out["ru_maxrss_after_train"] = (
        resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    )  # kB on Linux
    started = time.perf_counter()
    out["roc_auc"] = evaluate(model, *parts[2])["roc_auc"]
    out["evaluate_s"] = time.perf_counter() - started
    print(json.dumps(out))


def make(rows: int, path: str) -> None:
    started = time.perf_counter()
    frame = make_frame(rows)
    frame.to_pickle(path, protocol=pickle.HIGHEST_PROTOCOL)
    print(
        json.dumps(
            {
                "seconds": time.perf_counter() - started,
                "creators": int(frame["author_id"].nunique()),
            }
        )
    )


def run_child(threads: int | None, *args: str) -> dict:
    env = {**os.environ, **({"OMP_NUM_THREADS": str(threads)} if threads else {})}
    done = subprocess.run(
        [sys.executable, __file__, *args], capture_output=True, text=True, env=env
    )
    if done.returncode:
        raise RuntimeError(f"child failed:\n{done.stderr}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def summary(values: list[float], fmt: str) -> str:
    text = format(statistics.median(values), fmt)
    return (
        text
        if len(values) == 1
        else f"{text} ({format(min(values), fmt)}..{format(max(values), fmt)})"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="100000,1000000")
    parser.add_argument(
        "--repeats", type=int, default=3, help=f"runs of each size up to {SMALL:,} rows"
    )
    parser.add_argument("--large-repeats", type=int, default=1, help="runs of each larger size")
    parser.add_argument(
        "--threads", type=int, help="OMP_NUM_THREADS of the runs (default: unset, all cores)"
    )
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--make", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    if args.child or args.make:
        return child(args.child) if args.child else make(int(args.make[0]), args.make[1])

    print(
        f"Data: {DAYS} simulated days from {START} -> parse_item -> labelled-video columns (no database; "
        "trend score = percent rank of the sound's uses the day before); labels: top decile per UTC day."
    )
    print(
        "Each run: a fresh subprocess; train_calibrated on a 60/20/20 split by time; times in s; MiB of RSS; "
        f"OMP_NUM_THREADS={args.threads or os.environ.get('OMP_NUM_THREADS', 'unset')}, {os.cpu_count()} cores."
    )
    medians = {}
    with tempfile.TemporaryDirectory(prefix="bench_train_") as folder:
        for size in (int(s) for s in args.sizes.split(",")):
            # Data made in its own process too: a child's ru_maxrss starts from its parent's peak.
            path = Path(folder) / f"frame_{size}.pkl"
            made = run_child(None, "--make", str(size), str(path))
            repeats = args.repeats if size <= SMALL else args.large_repeats
            runs = [run_child(args.threads, "--child", str(path)) for _ in range(repeats)]
            path.unlink()

            def get(key, runs=runs):
                return [r[key] for r in runs]

            medians[size] = statistics.median(get("train_s"))
            print(
                f"\n{runs[0]['rows']:,} rows ({made['creators']:,} creators; data made in {made['seconds']:.0f} s), "
                f"{repeats} run{'s' * (repeats > 1)}: median (min..max)"
            )
            print(f"  build_features + labels  {summary(get('features_s'), '.2f')} s")
            print(
                f"  train_calibrated         {summary(get('train_s'), '.2f')} s   "
                f"(CPU {summary(get('train_cpu_s'), '.1f')}"
                f" s; train {int(runs[0]['rows'] * 0.6):,}, calibration {int(runs[0]['rows'] * 0.2):,} rows)"
            )
            print(
                f"  evaluate (test slice)    {summary(get('evaluate_s'), '.2f')} s   "
                f"ROC AUC {summary(get('roc_auc'), '.4f')}"
            )
            print(
                f"  time_creator_split       {summary(get('creator_split_s'), '.2f')} s   "
                f"({runs[0]['creator_split']})"
            )
            print(
                f"  RSS: imports {summary(get('rss_imports'), '.0f')}, data loaded {summary(get('rss_data'), '.0f')}, "
                f"before training {summary(get('rss_before_train'), '.0f')} MiB (data + features + split)"
            )
            print(
                f"  peak RSS of each step    unpickling {summary(get('peak_load'), '.0f')}, build_features "
                f"{summary(get('peak_features'), '.0f')}, splits {summary(get('peak_split'), '.0f')} MiB"
            )
            whole = [
                max(r["peak_load"], r["peak_features"], r["peak_split"], r["peak_after_train"])
                for r in runs
            ]
            print(
                f"  peak RSS while training  {summary(get('peak_after_train'), '.0f')} MiB (VmHWM; ru_maxrss after "
                f"training {summary(get('ru_maxrss_after_train'), '.0f')}: both reset just before training); "
                f"whole run {summary(whole, '.0f')} MiB"
            )
    sizes = sorted(medians)
    if len(sizes) > 1:
        small, large = sizes[0], sizes[-1]
        print(
            f"\ntrain_calibrated time ratio {large:,}/{small:,} rows: {medians[large] / medians[small]:.1f}x "
            f"(rows x{large / small:.0f})"
        )


if __name__ == "__main__":
    main()
