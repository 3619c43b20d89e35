"""The champion as plain numpy arrays, scored without scikit-learn.

Unpickling the champion imports scikit-learn (about a second in a fresh process, more under
load), and every `predict` run is a fresh process. `champion_model` therefore also publishes
the model compiled into arrays (`viral_pipeline.ml.compiled`): the median imputer with its
missing-value flags, the gradient-boosted trees (or the scaled logistic regression), and the
Platt calibrators. Scoring them needs numpy only; a test checks the result equals
scikit-learn's `predict_proba` on thousands of rows.

Stored with `np.savez` and read with `allow_pickle=False`: the bytes are data, not code.
"""

from __future__ import annotations

import io
from dataclasses import dataclass, field
from typing import Literal

import numpy as np

FORMAT = "viral_pipeline.scorer/1"
Kind = Literal["trees", "linear"]


@dataclass(frozen=True)
class CompiledScorer:
    kind: Kind
    n_features: int
    # SimpleImputer(median, add_indicator=True): fill values of the kept columns, then 0/1 flags.
    fill: np.ndarray  # per input column; only kept columns are used
    kept: np.ndarray  # bool per input column (columns empty at fit time are dropped)
    flagged: np.ndarray  # input columns that get a "was missing" flag
    # Platt calibrators, one per member of the calibrated ensemble: p = 1 / (1 + exp(a·f + b)).
    platt_a: np.ndarray
    platt_b: np.ndarray
    # kind == "trees": every tree's nodes, concatenated; children are absolute indices.
    baseline: float = 0.0
    roots: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    feature: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    threshold: np.ndarray = field(default_factory=lambda: np.zeros(0))
    missing_left: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=bool))
    left: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    right: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    is_leaf: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=bool))
    value: np.ndarray = field(default_factory=lambda: np.zeros(0))
    max_depth: int = 0
    # kind == "linear": StandardScaler then the logistic regression's decision function.
    mean: np.ndarray = field(default_factory=lambda: np.zeros(0))
    scale: np.ndarray = field(default_factory=lambda: np.zeros(0))
    coef: np.ndarray = field(default_factory=lambda: np.zeros(0))
    intercept: float = 0.0

    def _prepared(self, X: np.ndarray) -> np.ndarray:
        X = np.asarray(X, dtype=float)
        if X.ndim != 2 or X.shape[1] != self.n_features:
            raise ValueError(f"expected rows of {self.n_features} features, got shape {X.shape}")
        missing = np.isnan(X)
        filled = np.where(missing, self.fill, X)[:, self.kept]
        return np.hstack([filled, missing[:, self.flagged].astype(float)])

    def _tree_sum(self, Z: np.ndarray) -> np.ndarray:
        n = Z.shape[0]
        node = np.broadcast_to(self.roots, (n, self.roots.size)).copy()
        rows = np.arange(n)[:, None]
        for _ in range(self.max_depth + 1):
            leaf = self.is_leaf[node]
            if leaf.all():
                break
            x = Z[rows, self.feature[node]]
            # scikit-learn's rule: NaN follows the learned side; otherwise x <= threshold goes left.
            go_left = np.where(np.isnan(x), self.missing_left[node], x <= self.threshold[node])
            node = np.where(leaf, node, np.where(go_left, self.left[node], self.right[node]))
        return self.value[node].sum(axis=1) + self.baseline

    def decision_function(self, X: np.ndarray) -> np.ndarray:
        Z = self._prepared(X)
        if self.kind == "trees":
            return self._tree_sum(Z)
        return ((Z - self.mean) / self.scale) @ self.coef + self.intercept

    def predict_proba(self, X: np.ndarray) -> np.ndarray:
        """(n, 2) like scikit-learn: P(not viral), P(viral); the ensemble's mean probability."""
        f = self.decision_function(X)
        z = np.outer(f, self.platt_a) + self.platt_b
        positive = np.mean(np.exp(-np.logaddexp(0.0, z)), axis=1)  # 1 / (1 + e^z), without overflow
        return np.column_stack([1.0 - positive, positive])

    def to_bytes(self) -> bytes:
        arrays = {name: np.asarray(getattr(self, name)) for name in self.__dataclass_fields__}
        arrays["format"] = np.asarray(FORMAT)
        buffer = io.BytesIO()
        np.savez(buffer, **arrays)  # type: ignore[arg-type]  # numpy stubs type **kwds as bool
        return buffer.getvalue()

    @classmethod
    def from_bytes(cls, data: bytes) -> CompiledScorer:
        with np.load(io.BytesIO(data), allow_pickle=False) as stored:
            if "format" not in stored or str(stored["format"]) != FORMAT:
                raise ValueError(f"not a {FORMAT} scorer")
            values = {name: stored[name] for name in cls.__dataclass_fields__}
        for name in ("kind",):
            values[name] = str(values[name])
        for name in ("n_features", "max_depth"):
            values[name] = int(values[name])
        for name in ("baseline", "intercept"):
            values[name] = float(values[name])
        return cls(**values)
