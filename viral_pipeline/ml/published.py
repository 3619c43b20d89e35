"""The champion as published for prediction runs: version, threshold, the compiled scorer and
the pickled model.

champion_model loads `models:/<name>@champion` from MLflow and publishes it here when the
alias moves. A predict run (a fresh process each time) then reads one small row instead of
importing MLflow (~1 s) and loading from the registry (~3 s): see the project's GUIDE figures.
It reads the compiled scorer (numpy arrays, engine/model/scorer.py) when there is one, so it does not
import scikit-learn either; the pickle serves models the compiler does not support.
"""

from __future__ import annotations

import threading
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa

from viral_pipeline.engine.model.provenance import Provenance, provenance_from
from viral_pipeline.ml.loaded import LoadedModel, NoChampionError
from viral_pipeline.observability import get_logger
from viral_pipeline.store.db import dialect_insert
from viral_pipeline.store.schema import serving_models

log = get_logger(__name__)


def _compiled_bytes(model: Any) -> bytes | None:
    """The compiled scorer's bytes, or None (the pickle serves) when the model cannot be compiled.

    Compilation is an optimisation, so any failure falls back: besides UnsupportedModel, it reads
    scikit-learn's private fields, which a new release may rename (an AttributeError or worse).
    """
    from viral_pipeline.ml.compiled import compile_model

    try:
        return compile_model(model).to_bytes()
    except Exception as error:
        log.warning(
            "champion not compiled; predict runs will unpickle it",
            error_type=type(error).__name__,
            reason=str(error),
        )
        return None


def publish(
    engine: sa.Engine,
    name: str,
    version: str,
    model: Any,
    threshold: float,
    trained_on: Provenance | None,
) -> None:
    import cloudpickle

    row = {
        "model_name": name,
        "version": str(version),
        "decision_threshold": float(threshold),
        "model_pickle": cloudpickle.dumps(model),
        "scorer": _compiled_bytes(model),
        "published_at": datetime.now(UTC),
        "trained_on": trained_on.as_dict() if trained_on else None,
    }
    insert = dialect_insert(engine, serving_models)
    statement = insert.on_conflict_do_update(
        index_elements=["model_name"],
        set_={key: insert.excluded[key] for key in row if key != "model_name"},
    )
    with engine.begin() as connection:
        connection.execute(statement, row)


def published_version(engine: sa.Engine, name: str) -> str | None:
    with engine.connect() as connection:
        return connection.execute(
            sa.select(serving_models.c.version).where(serving_models.c.model_name == name)
        ).scalar()


class PublishedChampion:
    """Loads each published (name, version) once per process; a new version is picked up at once."""

    def __init__(self, name: str) -> None:
        self.name = name
        self._loaded: dict[tuple[str, str, str], LoadedModel] = {}
        self._lock = threading.Lock()

    def get(self, engine: sa.Engine) -> LoadedModel:
        query = sa.select(
            serving_models.c.version,
            serving_models.c.decision_threshold,
            serving_models.c.trained_on,
            serving_models.c.published_at,
        ).where(serving_models.c.model_name == self.name)
        with engine.connect() as connection:
            row = connection.execute(query).first()
        if row is None:
            raise NoChampionError(
                f"no champion of {self.name!r} has been published yet (run champion_model)"
            )
        # A version number is unique within one registry only: a fresh database or a reset
        # MLflow store publishes a "1" again, which must not be answered with the old "1".
        key = (self.name, row.version, str(row.published_at))
        with self._lock:
            if key not in self._loaded:
                self._loaded[key] = LoadedModel(
                    self.name,
                    row.version,
                    self._load(engine, row.version),
                    float(row.decision_threshold),
                    provenance_from(row.trained_on),
                )
            return self._loaded[key]

    def _load(self, engine: sa.Engine, version: str) -> Any:
        with engine.connect() as connection:
            stored = connection.execute(
                sa.select(serving_models.c.scorer, serving_models.c.model_pickle).where(
                    serving_models.c.model_name == self.name, serving_models.c.version == version
                )
            ).first()
        if stored is None:  # replaced between the two reads: the next call sees the new one
            raise NoChampionError(f"champion of {self.name!r} changed while loading; retry")
        if stored.scorer is not None:
            from viral_pipeline.engine.model.scorer import CompiledScorer

            return CompiledScorer.from_bytes(stored.scorer)
        import pickle

        return pickle.loads(
            stored.model_pickle
        )  # written by cloudpickle, read by the standard library

    @property
    def cached_versions(self) -> list[str]:
        return [version for _, version, _ in self._loaded]
