"""The HTTP API against its OpenAPI document, at length: the fuzz of test_api_fuzz.py with many
more examples per operation (schemathesis, derandomized), on a temporary SQLite database with
the fake Apify server. Prints the operations, the requests sent, the status codes answered, the
failures by check (with one example each), the refused requests that stored a row, and the
schema-valid requests refused by a rule the document states in words only.

    .venv/bin/python bench/api_fuzz.py [--examples 200]
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run as a script from anywhere


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--examples", type=int, default=200, help="per operation and per mode (valid, invalid)"
    )
    args = parser.parse_args()

    from viral_pipeline_tests.api_fuzz import fuzz_api, fuzz_environment
    from viral_pipeline_tests.fakes.apify_server import FakeApify

    print(f"load average at start: {os.getloadavg()[0]:.1f}", flush=True)
    tmp = Path(tempfile.mkdtemp(prefix="bench_api_fuzz_"))
    try:
        with FakeApify() as apify:
            apify.every_run_exists = True
            database_url = f"sqlite:///{tmp}/app.db"
            os.environ.update(fuzz_environment(database_url, apify.url, apify.token))
            os.environ.update(
                {
                    # Every refused request logs a warning: thousands of lines that say nothing here.
                    "LOG_LEVEL": "ERROR",
                    "MLFLOW_TRACKING_URI": f"sqlite:///{tmp}/mlflow.db",
                    "SCRAPER_SOURCE": "simulated",
                }
            )

            from viral_pipeline.api import create_app
            from viral_pipeline.settings import get_settings
            from viral_pipeline.store.db import ready_engine

            get_settings.cache_clear()
            app = create_app()
            started = time.perf_counter()
            report = fuzz_api(
                app,
                ready_engine(database_url),
                args.examples,
                progress=lambda step: print(f"  {step}", file=sys.stderr, flush=True),
            )
            elapsed = time.perf_counter() - started
    finally:
        shutil.rmtree(tmp, ignore_errors=True)

    print(f"load average at end: {os.getloadavg()[0]:.1f}")
    print(f"examples per operation and mode: {args.examples}")
    print(f"operations: {len(report.operations)}  ({', '.join(report.operations)})")
    print(f"requests: {report.requests} in {elapsed:.0f} s")
    print(
        "status codes: " + ", ".join(f"{code} x{n}" for code, n in sorted(report.statuses.items()))
    )
    print(f"server errors (5xx): {report.server_errors}")
    print(
        "failures by check: "
        + (", ".join(f"{name} x{n}" for name, n in report.failures.most_common()) or "none")
    )
    for key, example in report.examples.items():
        print(f"  {key}:\n    " + example.replace("\n", "\n    "))
    print(f"refused requests that stored a row: {len(report.stored_when_refused)}")
    for line in report.stored_when_refused[:20]:
        print(f"  {line}")
    print(
        "schema-valid requests refused by a rule stated in words only: "
        + (", ".join(f"{rule!r} x{n}" for rule, n in report.described_only.items()) or "none")
    )
    print(f"operations with no invalid input to make: {', '.join(report.without_invalid_input)}")
    return 1 if report.failures or report.stored_when_refused else 0


if __name__ == "__main__":
    raise SystemExit(main())
