"""The job the evaluate_predictions schedule launches."""

import dagster as dg

from viral_pipeline.dagster_logging import JSON_RUN_LOGS
from viral_pipeline.defs.outcomes.assets import prediction_outcomes
from viral_pipeline.defs.run_slots import background_run_tags

evaluate_predictions_job = dg.define_asset_job(
    "evaluate_predictions_job",
    selection=[prediction_outcomes],
    config=JSON_RUN_LOGS,
    tags=background_run_tags(),
    description="Collect the outcomes of predicted videos whose 24h/72h/7d tier is due.",
)
