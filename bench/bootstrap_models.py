"""What training the update model adds to a fresh local install's bootstrap.

`scripts/run.sh` runs `python -m viral_pipeline.bootstrap`: the data assets (scrapes of the last
`--days` days on the simulated source, creator profiles, trending sounds), then `retrain_ml_job`
and `retrain_update_model_job`. This times the three parts in a fresh temporary app database,
MLflow store and Dagster instance, each as bootstrap runs it (`execute_in_process`, defaults), and
prints the update model's share of the whole.

Run from the repo root:  .venv/bin/python bench/bootstrap_models.py [--days 7]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run as a script from anywhere


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--days", type=int, default=7, help="BOOTSTRAP_DAYS of run.sh")
    args = parser.parse_args()
    print(f"load average at start: {os.getloadavg()[0]:.1f}", flush=True)
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        (root / "dagster_home").mkdir()
        os.environ.update(
            {
                "DATABASE_URL": f"sqlite:///{root}/app.db",
                "MLFLOW_TRACKING_URI": f"sqlite:///{root}/mlflow.db",
                "DAGSTER_HOME": str(root / "dagster_home"),
                "SCRAPER_SOURCE": "simulated",
            }
        )
        import dagster as dg

        from viral_pipeline.bootstrap import bootstrap
        from viral_pipeline.definitions import defs as load_defs

        instance = dg.DagsterInstance.ephemeral()
        started = time.perf_counter()
        bootstrap(args.days, instance, train_model=False)
        seconds = {"data assets": time.perf_counter() - started}
        defs = load_defs()
        for job in ("retrain_ml_job", "retrain_update_model_job"):
            started = time.perf_counter()
            result = defs.resolve_job_def(job).execute_in_process(
                instance=instance, raise_on_error=False
            )
            seconds[job] = time.perf_counter() - started
            print(f"{job}: success={result.success}")
    total = sum(seconds.values())
    for part, value in seconds.items():
        print(f"{part:>26}: {value:7.1f} s ({value / total:5.1%})")
    print(f"{'bootstrap':>26}: {total:7.1f} s; the update model adds {seconds[job]:.1f} s")
    print(f"load average at end: {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
