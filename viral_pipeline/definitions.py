"""The code location: definitions per domain from `defs/`, plus the resources built from settings."""

import warnings
from pathlib import Path

import dagster as dg

from viral_pipeline.dagster_logging import json_console
from viral_pipeline.defs.resources import build_resources
from viral_pipeline.observability import configure_logging, init_sentry
from viral_pipeline.settings import get_settings

# Dagster builds run status sensors passing its beta `owners` parameter itself: a warning at every
# load (a coloured line among the JSON ones) about nothing this project sets.
warnings.filterwarnings(
    "ignore", message="Parameter `owners` of initializer `SensorDefinition", category=dg.BetaWarning
)


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
