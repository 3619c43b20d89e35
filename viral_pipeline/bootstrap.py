"""First-run set-up for the local product: migrate the database and materialize the assets.

`python -m viral_pipeline.bootstrap --days 3` materializes `scraped_videos` for the last N daily
partitions (today included) on the configured source, then `creator_profiles` and
`trending_sounds`, and (unless `--no-model`) trains a first model through `retrain_ml_job`, so
that a champion serves from the start, and a first update model through
`retrain_update_model_job` (on the simulated source, from its world's view curves), so that
outcomes of 24 h and 72 h bring updated predictions from the start. On another source the update
model needs a week of its own trajectories: that run fails with the counts, and the product
serves without updates until the weekly retrain finds enough. Everything is recorded in the Dagster instance at
$DAGSTER_HOME, so the UI shows it. Running it again refreshes the same rows and trains again.
"""

from __future__ import annotations

import argparse
from datetime import UTC, datetime, timedelta

import dagster as dg

from viral_pipeline.definitions import defs as load_defs
from viral_pipeline.observability import get_logger
from viral_pipeline.settings import get_settings
from viral_pipeline.store.db import ready_engine

log = get_logger("viral_pipeline.bootstrap")


def bootstrap(days: int, instance: dg.DagsterInstance, *, train_model: bool = True) -> list[str]:
    """Materialize the data assets (and train a model); returns the partition keys scraped."""
    defs = load_defs()
    ready_engine(get_settings().database_url)
    today = datetime.now(UTC).date()
    partitions = [(today - timedelta(days=offset)).isoformat() for offset in reversed(range(days))]
    for partition in partitions:
        result = defs.resolve_job_def("scrape_job").execute_in_process(
            partition_key=partition, instance=instance
        )
        log.info("bootstrap partition", partition=partition, success=result.success)
    jobs = ["creator_profiles_job", "trending_sounds_job"] + (
        ["retrain_ml_job", "retrain_update_model_job"] if train_model else []
    )
    for job in jobs:
        result = defs.resolve_job_def(job).execute_in_process(
            instance=instance, raise_on_error=False
        )
        log.info("bootstrap job", job=job, success=result.success)
    return partitions


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--days", type=int, default=3, help="daily partitions to scrape, ending today"
    )
    parser.add_argument("--no-model", action="store_true", help="skip training the first models")
    args = parser.parse_args(argv)
    bootstrap(args.days, dg.DagsterInstance.get(), train_model=not args.no_model)


if __name__ == "__main__":  # pragma: no cover - exercised by scripts/run.sh
    main()
