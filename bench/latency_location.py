"""The code location bench/latency.py serves: the product's definitions plus a floor probe.

The probe is a one-op job launched by a sensor built like `prediction_requests` (cursor, capped
batch, run_key = the row's id, one daemon loop per tick) over its own queue table, so the
difference between the two paths is what `predict` itself costs. Both live in this one
location, so both pay the same code-location import at run start.
"""

import time

import dagster as dg
import sqlalchemy as sa

from viral_pipeline.definitions import defs as product_defs
from viral_pipeline.defs.resources import AppDatabase

PROBES = sa.table(
    "latency_probes",
    sa.column("id"),
    sa.column("probe_id"),
    sa.column("status"),
    sa.column("finished_at"),
)


class ProbeConfig(dg.Config):
    probe_id: str


@dg.op
def finish_probe(config: ProbeConfig, app_db: AppDatabase) -> None:
    with app_db.engine().begin() as connection:
        connection.execute(
            sa.update(PROBES)
            .where(PROBES.c.probe_id == config.probe_id)
            .values(status="done", finished_at=time.time())
        )


@dg.job(executor_def=dg.in_process_executor)
def latency_probe() -> None:
    finish_probe()


@dg.sensor(
    job=latency_probe, minimum_interval_seconds=1, default_status=dg.DefaultSensorStatus.RUNNING
)
def latency_probe_requests(
    context: dg.SensorEvaluationContext, app_db: AppDatabase
) -> dg.SensorResult:
    last_id = int(context.cursor or 0)
    with app_db.engine().connect() as connection:
        rows = connection.execute(
            sa.select(PROBES.c.id, PROBES.c.probe_id)
            .where(PROBES.c.id > last_id, PROBES.c.status == "queued")
            .order_by(PROBES.c.id)
            .limit(50)
        ).fetchall()
    requests = [
        dg.RunRequest(
            run_key=row.probe_id,
            tags={"probe_id": row.probe_id},
            run_config={"ops": {"finish_probe": {"config": {"probe_id": row.probe_id}}}},
        )
        for row in rows
    ]
    return dg.SensorResult(run_requests=requests, cursor=str(rows[-1].id if rows else last_id))


@dg.definitions
def defs() -> dg.Definitions:
    return dg.Definitions.merge(
        product_defs(), dg.Definitions(jobs=[latency_probe], sensors=[latency_probe_requests])
    )
