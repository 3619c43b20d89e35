"""cost_report: one UTC day of prediction spend, as numeric metadata the UI plots over partitions."""

import time
from datetime import date

import dagster as dg

from viral_pipeline.defs.resources import AppDatabase
from viral_pipeline.observability import bound_context, elapsed_ms, get_logger

log = get_logger(__name__)

# end_offset=0: the newest partition is yesterday, the last complete day.
cost_days = dg.DailyPartitionsDefinition(start_date="2026-01-01", timezone="UTC")


def _table(rows: list[dict], key: str) -> str:
    lines = [f"| {key} | cost (cents) | requests | stage records |", "|---|---|---|---|"]
    lines += [
        f"| {row[key]} | {row['cost_cents']:.4f} | {row['requests']} | {row['stage_records']} |"
        for row in rows
    ]
    return "\n".join(lines)


@dg.asset(
    partitions_def=cost_days,
    group_name="costs",
    kinds={"sql"},
    description="A UTC day's prediction spend from prediction_stages: total, per request, per provider and stage.",
)
def cost_report(context: dg.AssetExecutionContext, app_db: AppDatabase) -> dg.MaterializeResult:
    from viral_pipeline.store.costs import cost_summary

    started = time.perf_counter()
    day = date.fromisoformat(context.partition_key)
    with bound_context(
        run_id=context.run.run_id, asset="cost_report", partition=context.partition_key
    ):
        summary = cost_summary(app_db.engine(), day, day)
        log.info(
            "cost report",
            day=context.partition_key,
            total_cost_cents=summary.total_cost_cents,
            requests=summary.requests,
        )
    metadata: dict = {
        "total_cost_cents": summary.total_cost_cents,
        "requests": summary.requests,
        "stage_records": summary.stage_records,
        "cost_per_request_cents": round(summary.cost_per_request_cents, 6),
        **{
            f"provider_{row['provider']}_cost_cents": row["cost_cents"]
            for row in summary.by_provider
        },
        **{f"stage_{row['stage']}_cost_cents": row["cost_cents"] for row in summary.by_stage},
        "by_provider": dg.MetadataValue.md(_table(summary.by_provider, "provider")),
        "by_stage": dg.MetadataValue.md(_table(summary.by_stage, "stage")),
        "duration_ms": elapsed_ms(started),
    }
    return dg.MaterializeResult(metadata=metadata)
