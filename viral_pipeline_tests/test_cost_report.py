"""cost_report, materialized for real from inserted stage rows, and the daily_cost_report schedule
that asks for yesterday's partition."""

from datetime import UTC, datetime

import dagster as dg
import pytest
import sqlalchemy as sa

from viral_pipeline.definitions import defs as load_defs
from viral_pipeline.defs.costs.schedules import daily_cost_report
from viral_pipeline.settings import get_settings
from viral_pipeline.store.db import ready_engine
from viral_pipeline.store.schema import prediction_stages

ROWS = [  # (request, stage, provider, cost_cents, recorded_at)
    ("r1", "gemini", "gemini", 0.2, datetime(2026, 11, 28, 9, tzinfo=UTC)),
    ("r1", "rules", None, 0.0, datetime(2026, 11, 28, 9, tzinfo=UTC)),
    ("r2", "gemini", "gemini", 0.1, datetime(2026, 11, 28, 23, 59, tzinfo=UTC)),
    ("r2", "deepseek", "deepseek", 0.05, datetime(2026, 11, 28, 23, 59, tzinfo=UTC)),
    ("r3", "gemini", "gemini", 5.0, datetime(2026, 11, 29, 0, 1, tzinfo=UTC)),  # the next day
]


@pytest.fixture
def stage_rows():
    with ready_engine(get_settings().database_url).begin() as connection:
        connection.execute(
            sa.insert(prediction_stages),
            [
                {
                    "request_id": r,
                    "stage": s,
                    "provider": p,
                    "cost_cents": c,
                    "duration_ms": 1.0,
                    "recorded_at": t,
                }
                for r, s, p, c, t in ROWS
            ],
        )


def _materialization(result):
    (event,) = result.get_asset_materialization_events()
    return {key: value.value for key, value in event.materialization.metadata.items()}


def test_cost_report_summarises_one_utc_day_with_plottable_numbers(stage_rows):
    defs = load_defs()
    result = defs.resolve_job_def("cost_report_job").execute_in_process(
        partition_key="2026-11-28", instance=dg.DagsterInstance.ephemeral()
    )
    assert result.success
    metadata = _materialization(result)
    assert metadata["total_cost_cents"] == pytest.approx(0.35)
    assert metadata["requests"] == 2 and metadata["stage_records"] == 4
    assert metadata["cost_per_request_cents"] == pytest.approx(0.175)
    assert metadata["provider_gemini_cost_cents"] == pytest.approx(0.3)
    assert metadata["provider_deepseek_cost_cents"] == pytest.approx(0.05)
    assert metadata["provider_internal_cost_cents"] == 0.0
    assert metadata["stage_rules_cost_cents"] == 0.0
    assert "| gemini |" in metadata["by_provider"]


def test_a_day_without_predictions_reports_zero(stage_rows):
    result = (
        load_defs()
        .resolve_job_def("cost_report_job")
        .execute_in_process(partition_key="2026-11-01", instance=dg.DagsterInstance.ephemeral())
    )
    metadata = _materialization(result)
    assert (
        metadata["total_cost_cents"],
        metadata["requests"],
        metadata["cost_per_request_cents"],
    ) == (0.0, 0, 0.0)


def test_the_daily_schedule_runs_after_midnight_utc_on_yesterday_and_its_run_materializes(
    stage_rows,
):
    defs = load_defs()
    schedule = defs.resolve_schedule_def("daily_cost_report")
    assert schedule.cron_schedule == "15 0 * * *" and schedule.execution_timezone == "UTC"
    assert schedule.default_status == dg.DefaultScheduleStatus.RUNNING
    instance = dg.DagsterInstance.ephemeral()
    context = dg.build_schedule_context(
        instance=instance,
        repository_def=defs.get_repository_def(),
        scheduled_execution_time=datetime(2026, 11, 29, 0, 15, tzinfo=UTC),
    )
    (request,) = daily_cost_report.evaluate_tick(context).run_requests
    assert request.partition_key == "2026-11-28" and request.run_key == "2026-11-28"
    assert "loggers" in request.run_config
    result = defs.resolve_job_def("cost_report_job").execute_in_process(
        run_config=request.run_config, partition_key=request.partition_key, instance=instance
    )
    assert _materialization(result)["total_cost_cents"] == pytest.approx(0.35)
