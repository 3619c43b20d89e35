#!/usr/bin/env python3
"""Enforce the coverage floors on a coverage.py JSON report (`--cov-report=json:coverage.json`).

Floors: >= 90% overall and >= 80% in every measured file. The percentages are coverage.py's
`percent_covered`, which counts branches too when the report was made with branch coverage
(required here). Exit 0 when every floor holds, 1 otherwise (the offending files are listed).

    python scripts/check_coverage.py coverage.json [--total 90] [--per-file 80]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path


def check(report: dict, total_floor: float, file_floor: float) -> list[str]:
    """Return the failures (empty when every floor holds)."""
    failures: list[str] = []
    if not report.get("meta", {}).get("branch_coverage"):
        failures.append(
            "the report was made without branch coverage (run pytest with --cov-branch)"
        )
    files = report.get("files") or {}
    if not files:
        failures.append("the report measured no files")

    total = float(report.get("totals", {}).get("percent_covered", 0.0))
    if total < total_floor:
        failures.append(f"total coverage {total:.2f}% is under the {total_floor:g}% floor")

    under = sorted(
        (float(data["summary"]["percent_covered"]), name)
        for name, data in files.items()
        if float(data["summary"]["percent_covered"]) < file_floor
    )
    for percent, name in under:
        summary = files[name]["summary"]
        failures.append(
            f"{name}: {percent:.2f}% is under the {file_floor:g}% per-file floor "
            f"(statements {summary.get('covered_lines', 0)}/{summary.get('num_statements', 0)}, "
            f"branches {summary.get('covered_branches', 0)}/{summary.get('num_branches', 0)})"
        )
    return failures


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "report", type=Path, help="coverage.json written by coverage.py / pytest-cov"
    )
    parser.add_argument(
        "--total", type=float, default=90.0, help="floor for the whole package (percent)"
    )
    parser.add_argument(
        "--per-file", type=float, default=80.0, help="floor for each file (percent)"
    )
    args = parser.parse_args(argv)

    try:
        report = json.loads(args.report.read_text())
    except (OSError, ValueError) as error:
        print(f"check_coverage: cannot read {args.report}: {error}", file=sys.stderr)
        return 1

    failures = check(report, args.total, args.per_file)
    total = float(report.get("totals", {}).get("percent_covered", 0.0))
    if failures:
        print(f"check_coverage: FAILED (total {total:.2f}%, branches included):", file=sys.stderr)
        for failure in failures:
            print(f"  - {failure}", file=sys.stderr)
        return 1
    print(
        f"check_coverage: OK: total {total:.2f}% >= {args.total:g}%, and every one of "
        f"{len(report['files'])} files >= {args.per_file:g}% (branches included)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
