"""The code location: definitions per domain from `defs/`, plus the resources built from settings."""

import warnings
from pathlib import Path
from typing import Any

import dagster as dg

from viral_pipeline.dagster_logging import json_console
from viral_pipeline.defs.calibration.resources import CalibrationPolicy
from viral_pipeline.defs.predict.resources import (
    LlmJudges,
    ModelServing,
    PredictionSensorLimits,
    SignalWeights,
)
from viral_pipeline.defs.profiles.resources import ProfileSensorLimits
from viral_pipeline.defs.resources import AppDatabase, MlflowTracking, ModelPolicy, Scraper
from viral_pipeline.observability import configure_logging, init_sentry
from viral_pipeline.settings import Settings, get_settings

# Dagster builds run status sensors passing its beta `owners` parameter itself: a warning at every
# load (a coloured line among the JSON ones) about nothing this project sets.
warnings.filterwarnings(
    "ignore", message="Parameter `owners` of initializer `SensorDefinition", category=dg.BetaWarning
)


def build_resources(settings: Settings) -> dict[str, Any]:
    """Every resource the definitions use, each built from the settings."""
    return {
        "app_db": AppDatabase.from_settings(settings),
        "scraper": Scraper.from_settings(settings),
        "mlflow_tracking": MlflowTracking.from_settings(settings),
        "model_policy": ModelPolicy.from_settings(settings),
        "llm_judges": LlmJudges.from_settings(settings),
        "model_serving": ModelServing.from_settings(settings),
        "signal_weights": SignalWeights.from_settings(settings),
        "prediction_limits": PredictionSensorLimits.from_settings(settings),
        "profile_limits": ProfileSensorLimits.from_settings(settings),
        "calibration_policy": CalibrationPolicy.from_settings(settings),
        "predict_io_manager": dg.mem_io_manager,
    }


@dg.definitions
def defs() -> dg.Definitions:
    settings = get_settings()
    configure_logging(settings.log_level)
    init_sentry(
        settings.sentry_dsn.get_secret_value() if settings.sentry_dsn else None,
        settings.sentry_environment,
    )
    return dg.Definitions.merge(
        dg.load_from_defs_folder(path_within_project=Path(__file__).parent),
        dg.Definitions(resources=build_resources(settings), loggers={"console": json_console}),
    )
