"""The one settings object, read from the environment (and an optional `.env` file).

Every field has a safe local default, so the product runs out of the box on the simulated
source. An invalid value stops start-up with a message naming the variable. Each default is
stated here and nowhere else: the Dagster resources have none, and take every value from these
fields (`from_settings` in the defs' resources modules).
"""

from __future__ import annotations

import hashlib
import hmac
import re
from enum import StrEnum
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import Field, GetCoreSchemaHandler, SecretStr, ValidationError, field_validator
from pydantic_core import core_schema
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from viral_pipeline.engine.calibration.outcomes import EvaluationTier
from viral_pipeline.engine.model.gate import GateThresholds
from viral_pipeline.engine.signals.aggregate import SIGNALS

PROJECT_ROOT = Path(__file__).resolve().parent.parent


class ScraperSource(StrEnum):
    simulated = "simulated"
    apify = "apify"


CALLER_NAME = re.compile(r"[A-Za-z0-9_.-]{1,64}")
MIN_CALLER_TOKEN_CHARS = 16


def _digest(token: str) -> bytes:
    return hashlib.sha256(token.encode()).digest()


class CallerTokens:
    """API_TOKENS parsed: the callers of the HTTP API and the sha256 of each one's bearer token.

    `name=token,name=token`. Only the hashes are kept, so neither a settings dump, a repr nor a
    memory read of this object yields a token. Names appear in logs, on stored requests and in
    the costs report; tokens never do.
    """

    def __init__(self, digests: dict[str, bytes]) -> None:
        self._digests = dict(digests)

    @classmethod
    def parse(cls, text: str) -> CallerTokens:
        digests: dict[str, bytes] = {}
        for position, entry in enumerate(text.split(","), start=1):
            name, sep, token = (part.strip() for part in entry.partition("="))
            # Messages name the entry's position and the caller, never the token.
            if not sep or not CALLER_NAME.fullmatch(name):
                raise ValueError(
                    f"entry {position} is not name=token with a name of 1-64 of A-Z a-z 0-9 . _ -"
                )
            if name in digests:
                raise ValueError(f"caller {name} is named twice")
            if len(token) < MIN_CALLER_TOKEN_CHARS or any(c.isspace() for c in token):
                raise ValueError(
                    f"the token of caller {name} must be at least {MIN_CALLER_TOKEN_CHARS} "
                    "characters without spaces"
                )
            digest = _digest(token)
            if digest in digests.values():
                raise ValueError(f"caller {name} shares its token with another caller")
            digests[name] = digest
        return cls(digests)

    @property
    def names(self) -> list[str]:
        return sorted(self._digests)

    def caller_for(self, token: str) -> str | None:
        """The caller whose token this is, or None. Every stored hash is compared, in constant
        time, so the answer time says nothing about which caller (if any) came close."""
        offered = _digest(token)
        found = None
        for name, digest in self._digests.items():
            if hmac.compare_digest(offered, digest):
                found = name
        return found

    def __repr__(self) -> str:
        return f"CallerTokens({', '.join(self.names)})"

    @classmethod
    def __get_pydantic_core_schema__(
        cls, source: Any, handler: GetCoreSchemaHandler
    ) -> core_schema.CoreSchema:
        def validate(value: object) -> CallerTokens:
            if isinstance(value, CallerTokens):
                return value
            if isinstance(value, str):
                return cls.parse(value)
            raise ValueError("must be name=token,name=token")

        return core_schema.no_info_plain_validator_function(validate)


class SettingsError(RuntimeError):
    """Raised when the environment holds an invalid value; the message names each variable."""


class Settings(BaseSettings):
    # Empty values (`APIFY_TOKEN=` copied from .env.example) mean "not set", not "set to empty".
    model_config = SettingsConfigDict(
        env_file=".env", extra="ignore", case_sensitive=False, env_ignore_empty=True
    )

    database_url: str = Field(
        default=f"sqlite:///{PROJECT_ROOT / 'data' / 'viral_pipeline.db'}",
        description="SQLAlchemy URL of the application database (SQLite file or PostgreSQL).",
    )
    mlflow_tracking_uri: str = Field(
        default=f"sqlite:///{PROJECT_ROOT / 'mlflow' / 'mlflow.db'}",
        description="MLflow tracking store (local SQLite by default, or a tracking server URL).",
    )
    mlflow_artifact_root: str | None = Field(
        default=None,
        description="Where new experiments keep artifacts; default: artifacts/ beside a SQLite tracking store.",
    )
    mlflow_ui_url: str | None = Field(
        default=None,
        description="Address of the MLflow UI, for links from Dagster; default: the tracking URI when it is http(s).",
    )
    mlflow_experiment: str = "viral_classifier"
    model_name: str = Field(
        default="viral_classifier", description="Registered model name in MLflow."
    )

    # The label: viral = plays strictly above this quantile of its window (Klug et al. 2021: top 10%).
    viral_quantile: float = Field(default=0.9, gt=0.5, lt=1.0)
    label_window_days: int = Field(default=1, ge=1, le=365)
    training_min_rows: int = Field(default=500, ge=1)
    # The update model of a real source trains on its videos' trajectories (video_snapshots):
    # below this many videos with an early reading and a 7-day outcome, update_model fails.
    update_training_min_videos: int = Field(default=500, ge=1)
    # accuracy_gate: evidence that a model is informative and calibrated on held-out data of the
    # configured source. Accuracy is reported, not blocking. The defaults are the gate's own,
    # stated in engine/model/gate.py beside the reason for each.
    gate_min_roc_auc: float = Field(default=GateThresholds.min_roc_auc, ge=0, le=1)
    gate_min_roc_auc_ci_low: float = Field(default=GateThresholds.min_roc_auc_ci_low, ge=0, le=1)
    gate_min_pr_auc_lift: float = Field(default=GateThresholds.min_pr_auc_lift, ge=1)
    gate_max_ece: float = Field(default=GateThresholds.max_ece, gt=0, le=1)
    gate_min_accuracy: float = Field(default=GateThresholds.min_accuracy, ge=0, le=1)
    gate_min_balanced_accuracy: float = Field(
        default=GateThresholds.min_balanced_accuracy, ge=0, le=1
    )
    # A champion trained on another scraper source than SCRAPER_SOURCE serves only when allowed.
    serve_model_from_other_source: bool = False

    # LLM judges: no key means the signal is unavailable, not an error.
    gemini_api_key: SecretStr | None = None
    gemini_base_url: str = "https://generativelanguage.googleapis.com"
    gemini_model: str = "gemini-2.5-flash"
    deepseek_api_key: SecretStr | None = None
    deepseek_base_url: str = "https://api.deepseek.com"
    deepseek_model: str = "deepseek-chat"
    llm_timeout_s: float = Field(
        default=20.0, gt=0, le=120, description="Budget of one judge call, retry included."
    )
    breaker_failure_threshold: int = Field(default=3, ge=1, le=100)
    breaker_open_seconds: float = Field(default=60.0, gt=0, le=3600)
    # Signal weights (normalised; an unavailable signal's weight is spread over the others).
    weight_rules: float = Field(default=0.15, ge=0)
    weight_trends: float = Field(default=0.15, ge=0)
    weight_ml: float = Field(default=0.40, ge=0)
    weight_gemini: float = Field(default=0.15, ge=0)
    weight_deepseek: float = Field(default=0.15, ge=0)
    predict_max_runs_per_tick: int = Field(default=50, ge=1, le=500)

    # The calibration loop: outcomes, Platt fits and audits.
    calibration_tier: EvaluationTier = Field(
        default=EvaluationTier.DAYS_7,
        description="Evaluation tier whose outcomes platt_calibration fits on.",
    )
    calibration_min_outcomes: int = Field(default=50, ge=2, le=1_000_000)
    calibration_audit_window_days: int = Field(default=30, ge=1, le=365)
    profile_max_runs_per_tick: int = Field(default=25, ge=1, le=500)

    scraper_source: ScraperSource = ScraperSource.simulated
    simulated_videos_per_day: int = Field(default=2000, ge=1, le=1_000_000)

    apify_token: SecretStr | None = None
    apify_api_url: str = "https://api.apify.com"
    apify_actor_id: str = "clockworks~tiktok-scraper"
    apify_webhook_secret: SecretStr | None = None
    apify_hashtags: str = Field(
        default="fyp,viral,trending", description="Comma-separated hashtags to scrape."
    )
    apify_results_per_hashtag: int = Field(default=100, ge=1, le=10_000)
    apify_timeout_s: float = Field(default=30.0, gt=0, le=300)
    apify_max_wait_s: float = Field(default=900.0, gt=0, le=86_400)

    sentry_dsn: SecretStr | None = None
    sentry_environment: str = "local"
    admin_token: SecretStr | None = None
    # Requests a minute each API caller may make, per limit group (api/limits.py). Counted in the
    # app database, so every API process on every machine shares one count. Each default sits
    # above what the queue behind it drains, so only a runaway or hostile client meets it: the
    # predict runs share 4 run slots and the profile scrapes 2 (dagster.yaml).
    rate_limit_analyze_per_minute: int = Field(
        default=60, ge=1, le=1_000_000, description="POST /api/analyze: paid LLM judge calls."
    )
    rate_limit_profile_per_minute: int = Field(
        default=10, ge=1, le=1_000_000, description="PATCH /api/profile: a paid Apify actor run."
    )
    rate_limit_writes_per_minute: int = Field(
        default=120,
        ge=1,
        le=1_000_000,
        description="POST /api/outcomes and PATCH /api/predictions/{id}/video: calibration labels.",
    )
    rate_limit_reads_per_minute: int = Field(
        default=600, ge=1, le=1_000_000, description="GET of a prediction, its outcomes, a profile."
    )
    # The API's callers (api/deps.py): unset, every caller endpoint answers 503 rather than open.
    api_tokens: Annotated[CallerTokens | None, NoDecode] = Field(
        default=None, description="Callers of the HTTP API and their bearer tokens: name=token,..."
    )
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    # The production topology's run workers (viral_pipeline/deploy): the Celery broker they take
    # runs from and the result backend where run monitoring reads each run's task state.
    celery_broker_url: str = "redis://127.0.0.1:6379/0"
    celery_result_backend: str = "redis://127.0.0.1:6379/1"

    @field_validator("log_level", mode="before")
    @classmethod
    def _upper(cls, value: object) -> object:
        return value.upper() if isinstance(value, str) else value

    @field_validator("database_url", "mlflow_tracking_uri")
    @classmethod
    def _has_scheme(cls, value: str) -> str:
        if "://" not in value and not value.startswith("sqlite:"):
            raise ValueError("must be a URL such as sqlite:///path/to/file.db or postgresql://...")
        return value

    @field_validator("apify_api_url", "gemini_base_url", "deepseek_base_url", "mlflow_ui_url")
    @classmethod
    def _http_url(cls, value: str | None) -> str | None:
        if value is None:
            return None
        if not value.startswith(("http://", "https://")):
            raise ValueError("must start with http:// or https://")
        return value.rstrip("/")

    @property
    def signal_weights(self) -> dict[str, float]:
        """WEIGHT_<signal> by signal name."""
        return {name.value: getattr(self, f"weight_{name}") for name in SIGNALS}

    @property
    def artifact_root(self) -> str | None:
        """Explicit root, else artifacts/ beside a SQLite store (MLflow would use ./mlruns of the cwd)."""
        if self.mlflow_artifact_root:
            return self.mlflow_artifact_root
        if self.mlflow_tracking_uri.startswith("sqlite:///"):
            return str(
                Path(self.mlflow_tracking_uri.removeprefix("sqlite:///")).parent / "artifacts"
            )
        return None

    @property
    def mlflow_ui(self) -> str | None:
        """Base address of the MLflow UI for run links, or None when there is none to point at."""
        if self.mlflow_ui_url:
            return self.mlflow_ui_url
        if self.mlflow_tracking_uri.startswith(("http://", "https://")):
            return self.mlflow_tracking_uri.rstrip("/")
        return None

    @property
    def hashtags(self) -> list[str]:
        return [tag.strip().lstrip("#") for tag in self.apify_hashtags.split(",") if tag.strip()]


_SECRET_FIELDS = {
    name
    for name, field in Settings.model_fields.items()
    if "SecretStr" in str(field.annotation) or "CallerTokens" in str(field.annotation)
}


def load_settings() -> Settings:
    """Read the environment; on a bad value raise SettingsError naming every bad variable."""
    try:
        return Settings()
    except ValidationError as error:
        problems = []
        for err in error.errors():
            name = str(err["loc"][0]) if err["loc"] else "?"
            shown = "***" if name in _SECRET_FIELDS else repr(err.get("input"))
            problems.append(f"{name.upper()}: {err['msg']} (got {shown})")
        raise SettingsError("invalid configuration: " + "; ".join(problems)) from None


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return load_settings()
