"""The retraining jobs: retrain_ml_job (training_set → ml_model (+ accuracy_gate) →
champion_model), and retrain_models_job, which the weekly schedule runs: that and the update
model's (update_model (+ update_gate) → update_champion) in one run."""

import dagster as dg

from viral_pipeline.dagster_logging import JSON_RUN_LOGS
from viral_pipeline.defs.ml.assets import champion_model, ml_model, training_set
from viral_pipeline.defs.run_slots import background_run_tags
from viral_pipeline.defs.updates.jobs import UPDATE_RETRAIN

CLASSIFIER_RETRAIN = dg.AssetSelection.assets(training_set, ml_model, champion_model)

retrain_ml_job = dg.define_asset_job(
    "retrain_ml_job",
    selection=CLASSIFIER_RETRAIN,
    config=JSON_RUN_LOGS,
    tags=background_run_tags(),
    description="Build the training set, train and gate a new model version, promote it if it passed.",
)

# The two branches share no asset: a version failing its gate (or an update model without
# trajectories to learn) fails the run, and the other branch still promotes its passing version.
retrain_models_job = dg.define_asset_job(
    "retrain_models_job",
    selection=CLASSIFIER_RETRAIN | UPDATE_RETRAIN,
    config=JSON_RUN_LOGS,
    tags=background_run_tags(),
    description="Retrain both registered models, the classifier and the update model after early "
    "views; each is promoted only if its own gate passed.",
)
