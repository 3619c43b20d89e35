"""A prediction's result: what the `persist` op stores in `prediction_requests.result` and what
`GET /api/predictions/{id}` answers, declared once.

Results stored by earlier releases lack the fields added since (`probability_source`,
`probability_note`, `raw_probability`, `platt_version`, `model_trained_on`,
`model_source_mismatch`, `weights_source`, `weights_version`, `weights_note`, `suggestions`):
those default, so every stored result stays readable. In the earliest ones `viral_probability` is
the raw aggregate score, not a calibrated probability. Keys this model does not declare (the
earliest results also carried the run id, which the row keeps in its own `dagster_run_id` column)
are ignored.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field

from viral_pipeline.engine.calibration.platt import ProbabilitySource
from viral_pipeline.engine.model.provenance import Provenance
from viral_pipeline.engine.signals.aggregate import Confidence, SignalName
from viral_pipeline.engine.signals.learned_weights import WeightsSource


class SignalResult(BaseModel):
    """One signal's part in the prediction."""

    score: float | None = Field(description="0..100, or null when the signal is unavailable")
    weight: float = Field(description="its share of the score after redistribution; 0 when down")
    available: bool
    reason: str | None = Field(description="why it is unavailable, or how its score came about")
    cost_cents: float


class StageRecord(BaseModel):
    """One op of the predict run: how long it took and what it cost."""

    stage: str
    provider: str | None = None
    duration_ms: float
    cost_cents: float
    input_tokens: int | None = None
    output_tokens: int | None = None


SuggestionKind = Literal["posting_hour", "hashtags", "sound", "duration"]


class SuggestedSound(BaseModel):
    name: str
    author: str | None
    id: str


class Suggestion(BaseModel):
    """One concrete change to the request, scored by the champion that scored the request."""

    kind: SuggestionKind
    change: str = Field(description="the change in words")
    posted_at: datetime | None = Field(default=None, description="kind posting_hour: when")
    hashtags: list[str] | None = Field(
        default=None, description="kind hashtags: every hashtag the video would carry"
    )
    sound: SuggestedSound | None = Field(default=None, description="kind sound: which one")
    duration_s: int | None = Field(default=None, description="kind duration: how long")
    viral_probability: float = Field(
        description="the champion's probability of the request with this change"
    )
    lift: float = Field(
        description="viral_probability minus the champion's probability of the request as sent"
    )


class Suggestions(BaseModel):
    """What-if suggestions: the best posting hour of the next 48 and the changes that help most."""

    available: bool
    reason: str | None = Field(default=None, description="why there are none, when none")
    model_version: str | None = None
    viral_probability: float | None = Field(
        default=None,
        description="the champion's probability of the request as sent, which each lift is "
        "measured from (the result's viral_probability may be calibrated on outcomes instead)",
    )
    best_posting_hour: Suggestion | None = Field(
        default=None,
        description="the whole hour of the next 48 (from posted_at) of highest probability",
    )
    changes: list[Suggestion] = Field(
        default_factory=list,
        description="at most two changes of different kinds (hashtags, sound, duration), the "
        "largest lifts first; only changes that raise the probability",
    )
    candidates_scored: int = 0


class PredictionResult(BaseModel):
    viral_probability: float | None = Field(
        description="a calibrated probability of landing in the top 10% of the posting day's "
        "plays, or null; probability_note says why (in the earliest results: the raw score)"
    )
    probability_source: ProbabilitySource | None = None
    probability_note: str | None = None
    score: float = Field(
        description="0..100 weighted score of the available signals: a ranking, not a probability"
    )
    confidence: Confidence
    is_calibrated: bool = Field(description="whether viral_probability is a calibrated probability")
    # What platt_calibration fits on: the aggregate before calibration, and which version served.
    raw_probability: float | None = None
    platt_version: str | None = None
    ml_score: float | None
    model_version: str | None
    model_trained_on: Provenance | None = Field(
        default=None,
        description="what the champion was trained on; null with no champion, or one published "
        "before this was recorded",
    )
    model_source_mismatch: bool = Field(
        default=False,
        description="the champion was trained on another scraper source than the configured one",
    )
    weights_source: WeightsSource = Field(
        default="fixed",
        description="which weights combined the signals: the configured ones (WEIGHT_*; every "
        "result before learned weights existed) or weights learned from outcomes",
    )
    weights_version: str | None = Field(
        default=None, description="the learned weights' version; null when the fixed ones served"
    )
    weights_note: str | None = Field(
        default=None, description="why these weights served (recorded since learned weights exist)"
    )
    signals: dict[SignalName, SignalResult]
    notes: list[str]
    stages: list[StageRecord]
    cost_cents: float
    duration_ms: float
    suggestions: Suggestions | None = Field(
        default=None,
        description="what-if suggestions from the champion; null in results stored before them",
    )
