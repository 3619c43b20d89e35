"""The daily calibration job: audit what served, refit Platt and the learned signal weights on the
same outcomes, publish each fit that passed its check."""

import dagster as dg

from viral_pipeline.dagster_logging import JSON_RUN_LOGS
from viral_pipeline.defs.calibration.assets import (
    calibration_audit,
    platt_calibration,
    serving_calibration,
)
from viral_pipeline.defs.run_slots import background_run_tags
from viral_pipeline.defs.signal_weights.assets import serving_signal_weights, signal_weights_fit

calibration_job = dg.define_asset_job(
    "calibration_job",
    # The audit reads the probabilities predictions were served with, which a new fit cannot
    # change, so it needs no ordering against the refit.
    selection=dg.AssetSelection.assets(
        calibration_audit,
        platt_calibration,
        serving_calibration,
        signal_weights_fit,
        serving_signal_weights,
    ),
    config=JSON_RUN_LOGS,
    tags=background_run_tags(),
    description="Audit recent predictions' ECE, refit Platt scaling and the learned signal weights, publish "
    "each if its blocking check passed.",
)
