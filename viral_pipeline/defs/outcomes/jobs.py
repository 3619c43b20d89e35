"""The job the evaluate_predictions schedule launches."""

import dagster as dg

from viral_pipeline.dagster_logging import JSON_RUN_LOGS
from viral_pipeline.defs.outcomes.assets import prediction_outcomes

evaluate_predictions_job = dg.define_asset_job(
    "evaluate_predictions_job",
    selection=[prediction_outcomes],
    config=JSON_RUN_LOGS,
    description="Collect the outcomes of predicted videos whose 24h/72h/7d tier is due.",
)
