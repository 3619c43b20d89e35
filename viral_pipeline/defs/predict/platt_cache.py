"""The serving Platt parameters, as each `predict` run's calibrate reads them (version_cache.py):
unusable ones (a missing field, NaN, a non-negative slope) leave the prediction uncalibrated."""

from viral_pipeline.defs.predict.version_cache import VersionCache
from viral_pipeline.engine.calibration.platt import PlattParams, platt_params_or_error
from viral_pipeline.store.schema import platt_calibrations

_cache: VersionCache[PlattParams] = VersionCache(
    table=platt_calibrations,
    parse=platt_params_or_error,
    stage="calibrate",
    version_tag="platt_version",
    unusable_message="platt parameters unusable, prediction stays uncalibrated",
)
current_platt_params = _cache.current
cached_versions = _cache.versions
