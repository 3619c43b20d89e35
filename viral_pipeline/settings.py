"""The one settings object, read from the environment (and an optional `.env` file).

Every field has a safe local default, so the product runs out of the box on the simulated
source. An invalid value stops start-up with a message naming the variable.
"""

from __future__ import annotations

from enum import Enum
from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

PROJECT_ROOT = Path(__file__).resolve().parent.parent


class ScraperSource(str, Enum):
    simulated = "simulated"
    apify = "apify"


class SettingsError(RuntimeError):
    """Raised when the environment holds an invalid value; the message names each variable."""


class Settings(BaseSettings):
    # Empty values (`APIFY_TOKEN=` copied from .env.example) mean "not set", not "set to empty".
    model_config = SettingsConfigDict(env_file=".env", extra="ignore", case_sensitive=False, env_ignore_empty=True)

    database_url: str = Field(
        default=f"sqlite:///{PROJECT_ROOT / 'data' / 'viral_pipeline.db'}",
        description="SQLAlchemy URL of the application database (SQLite file or PostgreSQL).",
    )
    mlflow_tracking_uri: str = Field(
        default=f"sqlite:///{PROJECT_ROOT / 'mlflow' / 'mlflow.db'}",
        description="MLflow tracking store (local SQLite by default, or a tracking server URL).",
    )
    scraper_source: ScraperSource = ScraperSource.simulated
    simulated_videos_per_day: int = Field(default=2000, ge=1, le=1_000_000)

    apify_token: SecretStr | None = None
    apify_api_url: str = "https://api.apify.com"
    apify_actor_id: str = "clockworks~tiktok-scraper"
    apify_webhook_secret: SecretStr | None = None
    apify_hashtags: str = Field(default="fyp,viral,trending", description="Comma-separated hashtags to scrape.")
    apify_results_per_hashtag: int = Field(default=100, ge=1, le=10_000)
    apify_timeout_s: float = Field(default=30.0, gt=0, le=300)
    apify_max_wait_s: float = Field(default=900.0, gt=0, le=86_400)

    sentry_dsn: SecretStr | None = None
    sentry_environment: str = "local"
    admin_token: SecretStr | None = None
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"

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

    @field_validator("apify_api_url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        if not value.startswith(("http://", "https://")):
            raise ValueError("must start with http:// or https://")
        return value.rstrip("/")

    @property
    def hashtags(self) -> list[str]:
        return [tag.strip().lstrip("#") for tag in self.apify_hashtags.split(",") if tag.strip()]


_SECRET_FIELDS = {name for name, field in Settings.model_fields.items() if "SecretStr" in str(field.annotation)}


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
