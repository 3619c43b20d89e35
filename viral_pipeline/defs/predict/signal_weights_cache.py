"""The serving learned signal weights, as each `predict` run's aggregate reads them
(version_cache.py): unusable ones leave the fixed weights serving."""

from viral_pipeline.defs.predict.version_cache import VersionCache
from viral_pipeline.engine.signals.learned_weights import LearnedWeights, learned_weights_or_error
from viral_pipeline.store.schema import signal_weight_versions

_cache: VersionCache[LearnedWeights] = VersionCache(
    table=signal_weight_versions,
    parse=learned_weights_or_error,
    stage="aggregate",
    version_tag="weights_version",
    unusable_message="learned signal weights unusable, the fixed weights serve",
)
current_learned_weights = _cache.current
cached_versions = _cache.versions
