"""What the two LLM judges add to a predict run when each answers in a fixed time: the slower, or both.

Both judges point at the loopback fake servers (viral_pipeline_tests/fakes/llm_servers.py), each
holding every answer `--delay` seconds. A predict run with both judges on is alternated with one
with both off (no key: each judge's stage ends at once), `--runs` times each after one warm-up
of each, by `execute_in_process` on a SQLite-backed Dagster instance (what the daemon's runs
write to) and a SQLite app database, without a champion. Printed: the median wall time of a run
in each mode and their difference (judges at once: about one `--delay`; one after the other it
would be two), the result's `duration_ms`, and each judge's own stage duration.

Run from the repo root:  .venv/bin/python bench/judges.py [--runs 7] [--delay 2]
"""

from __future__ import annotations

import argparse
import logging
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run as a script from anywhere

from viral_pipeline.settings import Settings, get_settings  # noqa: E402
from viral_pipeline_tests.fakes.llm_servers import FakeDeepSeek, FakeGemini  # noqa: E402
from viral_pipeline_tests.prediction_builders import PAYLOAD  # noqa: E402

QUIET = {"loggers": {"console": {"config": {"log_level": "WARNING"}}}}
JUDGE_ENV = ("GEMINI_API_KEY", "GEMINI_BASE_URL", "DEEPSEEK_API_KEY", "DEEPSEEK_BASE_URL")


def _defs(judges: dict[str, str] | None):
    """The Definitions with both judges pointed at the fakes, or with neither configured."""
    from viral_pipeline.definitions import defs

    for name in JUDGE_ENV:
        os.environ.pop(name, None)
    os.environ.update(judges or {})
    get_settings.cache_clear()
    return defs()


def _predict(defs, instance) -> tuple[float, dict]:
    """One predict run of a new request: (wall seconds, stored result)."""
    from viral_pipeline.store.db import ready_engine
    from viral_pipeline.store.predictions import create_request, get_request

    engine = ready_engine(get_settings().database_url)
    request_id = create_request(engine, PAYLOAD)
    run_config = {"ops": {"normalize": {"config": {"request_id": request_id}}}, **QUIET}
    began = time.perf_counter()
    run = defs.resolve_job_def("predict").execute_in_process(
        run_config=run_config, instance=instance
    )
    seconds = time.perf_counter() - began
    assert run.success
    return seconds, get_request(engine, request_id)["result"]


def _median(values: list[float]) -> str:
    return f"{statistics.median(values):.2f} (min {min(values):.2f}, max {max(values):.2f})"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--delay", type=float, default=2.0, help="seconds each judge takes")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    print(f"load average at start: {os.getloadavg()[0]:.2f}")
    Settings.model_config["env_file"] = None  # the bench's own settings, not a developer's .env
    with (
        tempfile.TemporaryDirectory(prefix="bench_judges_") as home,
        FakeGemini() as gemini,
        FakeDeepSeek() as deepseek,
    ):
        import dagster as dg

        os.environ.update(
            DATABASE_URL=f"sqlite:///{home}/app.db",
            MLFLOW_TRACKING_URI=f"sqlite:///{home}/mlflow.db",
            SCRAPER_SOURCE="simulated",
            LLM_TIMEOUT_S=str(args.delay + 10),
        )
        for server in (gemini, deepseek):
            server.delay(args.delay, count=args.runs + 1)
        judges = {
            "GEMINI_API_KEY": gemini.api_key,
            "GEMINI_BASE_URL": gemini.url,
            "DEEPSEEK_API_KEY": deepseek.api_key,
            "DEEPSEEK_BASE_URL": deepseek.url,
        }
        modes = {"judges off": _defs(None), "both judges on": _defs(judges)}
        logging.getLogger("viral_pipeline").setLevel(logging.WARNING)  # no stage lines
        wall: dict[str, list[float]] = {mode: [] for mode in modes}
        reported: dict[str, list[float]] = {mode: [] for mode in modes}
        stage_s: dict[str, list[float]] = {"gemini": [], "deepseek": []}
        with dg.DagsterInstance.local_temp(home) as instance:
            for repeat in range(args.runs + 1):
                for mode, defs in modes.items():
                    seconds, result = _predict(defs, instance)
                    if repeat == 0:
                        continue  # warm-up: imports, migrations, first connections
                    wall[mode].append(seconds)
                    reported[mode].append(result["duration_ms"] / 1000)
                    if mode == "both judges on":
                        for stage in result["stages"]:
                            if stage["stage"] in stage_s:
                                stage_s[stage["stage"]].append(stage["duration_ms"] / 1000)
    print(f"load average at end: {os.getloadavg()[0]:.2f}")
    print(f"{args.runs} runs per mode, each judge answering in {args.delay:g} s")
    for mode in modes:
        print(
            f"  {mode:15} run wall s: {_median(wall[mode])}; result duration_ms/1000: "
            f"{_median(reported[mode])}"
        )
    for judge, values in stage_s.items():
        print(f"  {judge:15} stage s: {_median(values)}")
    added = statistics.median(wall["both judges on"]) - statistics.median(wall["judges off"])
    print(
        f"both judges add {added:.2f} s to the run's median "
        f"({added / args.delay:.2f} x one judge's {args.delay:g} s; one after the other: 2 x)"
    )


if __name__ == "__main__":
    main()
