"""A champion loaded for serving, and the error for "none yet".

Kept apart from the MLflow modules (ml/tracking.py, ml/training.py) so that a `predict` run,
which only needs these, imports neither MLflow nor scikit-learn.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from viral_pipeline.engine.model.provenance import Provenance


class NoChampionError(LookupError):
    """No version carries the champion alias yet: the ML signal is unavailable."""


@dataclass(frozen=True)
class LoadedModel:
    name: str
    version: str
    model: Any  # a CompiledScorer, or a fitted scikit-learn classifier with predict_proba
    threshold: float
    trained_on: Provenance | None = None  # None: published before provenance was recorded

    @property
    def compiled(self) -> bool:
        from viral_pipeline.engine.model.scorer import CompiledScorer

        return isinstance(self.model, CompiledScorer)

    def probability(self, raw: Mapping[str, Any]) -> float:
        """P(viral) of one row of raw columns (`RAW_COLUMNS` and the creator history columns)."""
        return float(self.probabilities([raw])[0])

    def probabilities(self, rows: Sequence[Mapping[str, Any]]) -> np.ndarray:
        """P(viral) of each row of raw columns, scored in one matrix call.

        A champion trained before the creator history columns existed reads the leading
        request feature columns only, as it was trained."""
        if not rows:
            return np.zeros(0)
        if self.compiled:
            from viral_pipeline.engine.model.feature_row import feature_vector

            matrix = np.stack([feature_vector(raw) for raw in rows])[:, : self.model.n_features]
            return np.asarray(self.model.predict_proba(matrix)[:, 1], dtype=float)
        import pandas as pd

        from viral_pipeline.engine.model.features import build_features

        features = build_features(pd.DataFrame([dict(raw) for raw in rows]))
        columns = getattr(self.model, "feature_names_in_", features.columns)
        return np.asarray(self.model.predict_proba(features[list(columns)])[:, 1], dtype=float)
