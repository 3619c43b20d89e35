"""The job the daily cost summary launches."""

import dagster as dg

from viral_pipeline.dagster_logging import JSON_RUN_LOGS
from viral_pipeline.defs.costs.assets import cost_report
from viral_pipeline.defs.run_slots import background_run_tags

cost_report_job = dg.define_asset_job(
    "cost_report_job",
    selection=[cost_report],
    config=JSON_RUN_LOGS,
    tags=background_run_tags(),
    description="Summarise one UTC day of prediction spend into cost_report.",
)
