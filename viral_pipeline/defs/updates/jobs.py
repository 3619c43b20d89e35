"""The update model's retraining job: update_model (+ update_gate) → update_champion."""

import dagster as dg

from viral_pipeline.dagster_logging import JSON_RUN_LOGS
from viral_pipeline.defs.run_slots import background_run_tags
from viral_pipeline.defs.updates.assets import update_champion, update_model

UPDATE_RETRAIN = dg.AssetSelection.assets(update_model, update_champion)

retrain_update_model_job = dg.define_asset_job(
    "retrain_update_model_job",
    selection=UPDATE_RETRAIN,
    config=JSON_RUN_LOGS,
    tags=background_run_tags(),
    description="Train and gate a new update model version on view trajectories, promote it if it passed.",
)
