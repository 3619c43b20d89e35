"""The seven crons of the README are the code's: each exists, runs by default, and has the
cadence the README gives it."""

import re
from pathlib import Path

import dagster as dg

from viral_pipeline.definitions import defs as load_defs

README = Path(__file__).resolve().parent.parent / "README.md"
ROW = re.compile(r"^\| (\d) \| `(\w+)` \| ([^|]+) \| ([^|]+) \|", re.M)
SEVEN = {
    "scrape_trending",
    "trending_sounds_after_scrape",
    "refresh_creator_profiles",
    "retrain_ml",
    "evaluate_predictions",
    "calibration_audit",
    "daily_cost_report",
}


def test_the_readme_lists_the_seven_crons_with_the_codes_cadence():
    defs = load_defs()
    schedules = {s.name: s for s in defs.schedules}
    sensors = {s.name: s for s in defs.sensors}
    rows = {
        name: (kind.strip(), cadence.strip())
        for _, name, kind, cadence in ROW.findall(README.read_text())
    }
    assert set(rows) == SEVEN
    for name, (kind, cadence) in rows.items():
        if kind == "schedule":
            schedule = schedules[name]
            assert cadence.split("`")[1] == schedule.cron_schedule, name
            assert schedule.execution_timezone == "UTC", name
            assert schedule.default_status == dg.DefaultScheduleStatus.RUNNING, name
        else:  # trends recomputation follows each scrape (the README says why)
            assert (
                "sensor" in kind and sensors[name].default_status == dg.DefaultSensorStatus.RUNNING
            ), name
    assert set(schedules) == SEVEN - {"trending_sounds_after_scrape"}
