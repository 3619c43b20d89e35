"""Scoring many requests at once, with the same answers as scoring them one at a time.

A `predict` run scores one request with the per-request functions (`normalize`, `score_rules`,
`score_trends`, `aggregate`, `calibrate`). Scoring many at once goes through `score_batch`,
which shares the work a batch has in common. Today `bench/engine.py` calls it; it is the entry
point for anything that scores requests in bulk (a backfill, an offline evaluation of the rules):

- **trends**: the batch's distinct sound names are fuzzy-matched together
  (`viral_pipeline.engine.signals.trends_match.score_trends_many`);
- **aggregate** (`aggregate_many`): requests with the same signals unavailable, for the same
  reasons, share their weights and notes, which `aggregate`'s own rules (`redistribute`) work
  out once per such group; scores and spreads are numpy over the whole batch, and each row's
  confidence comes from `confidence_of`, the rule `aggregate` applies;
- **calibrate** (`viral_pipeline.engine.calibration.platt.calibrate_many`, which `calibrate`
  itself calls): Platt's sigmoid over the array.

The tests check every row against the per-request path: equal signals, weights and confidences,
and scores and probabilities equal to within 1e-12 (only the order of floating-point additions
differs).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

import numpy as np

from viral_pipeline.engine.calibration.platt import PlattParams, calibrate_many
from viral_pipeline.engine.inputs.request import AnalyzeRequest, NormalizedRequest, normalize
from viral_pipeline.engine.signals.aggregate import (
    LLM_SIGNALS,
    SIGNALS,
    Aggregate,
    Confidence,
    Signal,
    SignalName,
    aggregate,
    check_signal_names,
    confidence_of,
    normalise_weights,
    redistribute,
)
from viral_pipeline.engine.signals.rules import score_rules
from viral_pipeline.engine.signals.trends_match import TrendSnapshot, score_trends_many

_COLUMN = {name: i for i, name in enumerate(SIGNALS)}
_LLM_COLUMNS = [_COLUMN[name] for name in LLM_SIGNALS]


@dataclass(frozen=True, eq=False)
class Aggregates:
    """`aggregate`'s answers for a batch, column by column; `row(i)` is request i's `Aggregate`."""

    score: np.ndarray  # (n,) 0..100
    weights_used: np.ndarray  # (n, 5), columns in SIGNALS order
    redistributed: np.ndarray  # (n,) bool
    confidence: list[Confidence]
    group: np.ndarray  # (n,) index into group_notes
    group_notes: list[list[str]]  # the notes on unavailable signals, shared by a group's rows
    confidence_notes: list[str | None]  # why a row's confidence is not HIGH

    @property
    def raw_probability(self) -> np.ndarray:
        return self.score / 100.0

    def __len__(self) -> int:
        return len(self.score)

    def notes(self, i: int) -> list[str]:
        why = self.confidence_notes[i]
        return [*self.group_notes[self.group[i]], *([why] if why is not None else [])]

    def row(self, i: int) -> Aggregate:
        return Aggregate(
            score=float(self.score[i]),
            raw_probability=float(self.score[i]) / 100.0,
            weights_used=dict(zip(SIGNALS, self.weights_used[i].tolist())),
            redistributed=bool(self.redistributed[i]),
            confidence=self.confidence[i],
            notes=self.notes(i),
        )


def aggregate_many(
    columns: Mapping[str, Sequence[Signal | None]], weights: Mapping[str, float]
) -> Aggregates:
    """`aggregate` of every row: row i holds ``columns[name][i]`` for each signal name (a missing
    column or a None entry means no signal). Raises `aggregate`'s ValueError for the first bad row."""
    check_signal_names(columns)
    lengths = {len(column) for column in columns.values()}
    if len(lengths) > 1:
        raise ValueError(f"the signal columns differ in length: {sorted(lengths)}")
    n = lengths.pop() if lengths else 0
    base = normalise_weights(weights)
    scores = np.zeros((n, len(SIGNALS)))
    # Per signal, a code per row: 0 available, else the index of (missing | unavailable and why).
    codes: list[list[int]] = []
    for c, name in enumerate(SIGNALS):
        column = columns.get(name)
        if column is None:
            codes.append([1] * n)
            continue
        bad = next((i for i, s in enumerate(column) if s is not None and s.name != name), None)
        if bad is not None:
            aggregate(_row(columns, bad), weights)  # raises the error one request would get
        up = [s is not None and s.available for s in column]
        scores[:, c] = [s.score if ok else 0.0 for s, ok in zip(column, up)]  # type: ignore[union-attr]
        states: dict[tuple[object, ...], int] = {}
        codes.append(
            [
                0
                if ok
                else states.setdefault(("down", s.reason) if s is not None else (), len(states) + 1)
                for s, ok in zip(column, up)
            ]
        )
    mask = np.array(codes, dtype=np.int64).T.reshape(n, len(SIGNALS)) == 0
    n_up = mask.sum(axis=1)
    if n and not n_up.all():
        aggregate(
            _row(columns, int(np.flatnonzero(n_up == 0)[0])), weights
        )  # "no signal is available"

    # Rows with the same signals unavailable for the same reasons share their weights and notes.
    groups: dict[tuple[int, ...], int] = {}
    group = np.fromiter(
        (groups.setdefault(key, len(groups)) for key in zip(*codes)), dtype=np.intp, count=n
    )
    firsts = np.unique(group, return_index=True)[1]  # a row of each group (numbered as first seen)
    used = np.empty((len(firsts), len(SIGNALS)))
    redistributed = np.empty(len(firsts), dtype=bool)
    group_notes: list[list[str]] = []
    for g, i in enumerate(firsts.tolist()):
        row = _row(columns, i)
        up_names: dict[str, float] = {name: 0.0 for name, ok in zip(SIGNALS, mask[i]) if ok}
        notes: list[str] = []
        if len(up_names) == len(SIGNALS):  # everything answered: the configured weights as they are
            weights_of, redistributed[g] = base, False
        else:
            weights_of, redistributed[g] = redistribute(row, base, up_names, notes)
        used[g] = [weights_of[name] for name in SIGNALS]
        group_notes.append(notes)

    weights_used = used[group]
    score = np.clip(
        (weights_used * scores).sum(axis=1), 0.0, 100.0
    )  # rounding must not leave 0..100
    deviations = (scores - (scores.sum(axis=1) / n_up)[:, None]) * mask
    spread = np.sqrt((deviations * deviations).sum(axis=1) / n_up)
    llm_up = mask[:, _LLM_COLUMNS].sum(axis=1)
    confidence: list[Confidence] = []
    confidence_notes: list[str | None] = []
    for n_available, llms, row_spread in zip(n_up.tolist(), llm_up.tolist(), spread.tolist()):
        level, why = confidence_of(n_available, llms, row_spread)
        confidence.append(level)
        confidence_notes.append(why)
    return Aggregates(
        score=score,
        weights_used=weights_used,
        redistributed=redistributed[group],
        confidence=confidence,
        group=group,
        group_notes=group_notes,
        confidence_notes=confidence_notes,
    )


def _row(columns: Mapping[str, Sequence[Signal | None]], i: int) -> dict[str, Signal]:
    return {name: signal for name, column in columns.items() if (signal := column[i]) is not None}


@dataclass(frozen=True, eq=False)
class BatchScores:
    """Each request's normalised form, rules and trends signals, aggregate and probability."""

    requests: list[NormalizedRequest]
    rules: list[Signal]
    trends: list[Signal]
    aggregates: Aggregates
    probability: np.ndarray
    is_calibrated: bool


def score_batch(
    requests: Sequence[AnalyzeRequest],
    snapshot: TrendSnapshot,
    other_signals: Mapping[str, Sequence[Signal | None]],
    weights: Mapping[str, float],
    params: PlattParams | None,
    *,
    now: datetime | None = None,
) -> BatchScores:
    """Score validated requests together. `other_signals` holds the signals computed elsewhere,
    a column per name (``ml``, ``gemini``, ``deepseek``), entry i for request i; a missing column
    or a None entry means no signal."""
    short = {
        name: len(column) for name, column in other_signals.items() if len(column) != len(requests)
    }
    if short:
        raise ValueError(f"{len(requests)} requests but signal columns of other lengths: {short}")
    normalized = [normalize(request, now=now) for request in requests]
    rules = [score_rules(req) for req in normalized]
    trends = score_trends_many(normalized, snapshot)
    aggregates = aggregate_many(
        {**other_signals, SignalName.RULES: rules, SignalName.TRENDS: trends}, weights
    )
    probability, is_calibrated = calibrate_many(aggregates.raw_probability, params)
    return BatchScores(normalized, rules, trends, aggregates, probability, is_calibrated)
