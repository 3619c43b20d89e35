"""What a model version was trained on, and whether it may serve the configured scraper source.

A model learns the world its training videos come from. The bundled set is simulated: it is a
bootstrap for the simulated source, not a model of real TikTok videos. So every version records
its provenance (MLflow tags, `ml_model` metadata, `serving_models.trained_on`), and a champion
trained on another source than the configured one does not serve silently: by default its
signal is unavailable with a reason naming both sources; `SERVE_MODEL_FROM_OTHER_SOURCE=true`
allows it, and then the prediction says so.

Pure: no pandas, so a predict run imports it for nothing.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any, Literal

DatasetKind = Literal["bundled", "database", "simulated_curves", "snapshots"]
_DATASET_KINDS: dict[str, DatasetKind] = {
    "bundled": "bundled",
    "database": "database",
    "simulated_curves": "simulated_curves",  # the update model's: the simulated world's view curves
    "snapshots": "snapshots",  # the update model's: a source's videos' sightings (video_snapshots)
}
BUNDLED_SOURCE = "simulated"  # the bundled set is simulated videos
TAG_PREFIX = "trained_on_"
UNKNOWN = "unknown"


@dataclass(frozen=True)
class Provenance:
    """`dataset` is "bundled" (the simulated set shipped with the package) or "database" (the
    app database's videos of one scraper source); `source` is the scraper source the videos came
    from; the posting days and row count describe the training set."""

    dataset: DatasetKind
    source: str
    first_posted_day: str  # ISO date, UTC
    last_posted_day: str
    rows: int

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    def as_tags(self) -> dict[str, str]:
        """MLflow tags (strings), `trained_on_<field>`."""
        return {f"{TAG_PREFIX}{key}": str(value) for key, value in self.as_dict().items()}

    def describe(self) -> str:
        what = {
            "bundled": "the bundled simulated set",
            "simulated_curves": "view curves of the simulated world",
            "snapshots": f"trajectories of {self.source} videos (video_snapshots)",
        }.get(self.dataset, f"{self.source} videos in the database")
        return f"{what} ({self.first_posted_day}..{self.last_posted_day}, {self.rows:,} rows)"


def provenance_from(data: Mapping[str, Any] | None, *, prefix: str = "") -> Provenance | None:
    """A Provenance from `as_dict()` (or, with prefix=TAG_PREFIX, from MLflow tags); None when
    the fields are missing or malformed (a version trained before provenance was recorded)."""
    if not data:
        return None
    try:
        kind = _DATASET_KINDS.get(str(data[f"{prefix}dataset"]))
        if kind is None:
            return None
        return Provenance(
            dataset=kind,
            source=str(data[f"{prefix}source"]),
            first_posted_day=str(data[f"{prefix}first_posted_day"]),
            last_posted_day=str(data[f"{prefix}last_posted_day"]),
            rows=int(data[f"{prefix}rows"]),
        )
    except (KeyError, TypeError, ValueError):
        return None


def learned_source(trained_on: Provenance | None, source: str) -> bool:
    """Was this version trained on `source`'s videos? False when its source was never recorded."""
    return trained_on is not None and trained_on.source == source


@dataclass(frozen=True)
class ServingDecision:
    """May this champion serve the configured source? `mismatch` is True when its training
    source differs (or is unknown), whether or not that was allowed."""

    allowed: bool
    mismatch: bool
    reason: str | None


def serving_decision(
    version: str, trained_on: Provenance | None, configured_source: str, allow_other_source: bool
) -> ServingDecision:
    if learned_source(trained_on, configured_source):
        return ServingDecision(True, False, None)
    learned = trained_on.describe() if trained_on else "data whose source was not recorded"
    source = trained_on.source if trained_on else UNKNOWN
    mismatch = (
        f"champion v{version} was trained on {learned}, source {source!r}, but the configured "
        f"scraper source is {configured_source!r}"
    )
    if allow_other_source:
        return ServingDecision(
            True, True, f"{mismatch}; serving it anyway (SERVE_MODEL_FROM_OTHER_SOURCE=true)"
        )
    return ServingDecision(
        False,
        True,
        f"{mismatch}: not served (retrain on {configured_source!r} videos, "
        "or set SERVE_MODEL_FROM_OTHER_SOURCE=true)",
    )
