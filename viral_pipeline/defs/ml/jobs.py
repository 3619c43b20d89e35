"""The retraining job: training_set → ml_model (+ accuracy_gate) → champion_model."""

import dagster as dg

from viral_pipeline.dagster_logging import JSON_RUN_LOGS
from viral_pipeline.defs.ml.assets import champion_model, ml_model, training_set
from viral_pipeline.defs.run_slots import background_run_tags

retrain_ml_job = dg.define_asset_job(
    "retrain_ml_job",
    selection=dg.AssetSelection.assets(training_set, ml_model, champion_model),
    config=JSON_RUN_LOGS,
    tags=background_run_tags(),
    description="Build the training set, train and gate a new model version, promote it if it passed.",
)
