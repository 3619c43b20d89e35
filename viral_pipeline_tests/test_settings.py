from __future__ import annotations

from pathlib import Path

import pytest

from viral_pipeline.settings import (
    PROJECT_ROOT,
    ScraperSource,
    Settings,
    SettingsError,
    get_settings,
    load_settings,
)


def test_defaults_load_without_any_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("DATABASE_URL", "MLFLOW_TRACKING_URI", "SCRAPER_SOURCE"):
        monkeypatch.delenv(name)

    settings = load_settings()

    assert settings.database_url == f"sqlite:///{PROJECT_ROOT / 'data' / 'viral_pipeline.db'}"
    assert settings.mlflow_tracking_uri == f"sqlite:///{PROJECT_ROOT / 'mlflow' / 'mlflow.db'}"
    assert settings.scraper_source is ScraperSource.simulated
    assert settings.apify_token is None
    assert settings.apify_webhook_secret is None
    assert settings.sentry_dsn is None
    assert settings.admin_token is None
    assert settings.apify_api_url == "https://api.apify.com"
    assert settings.log_level == "INFO"
    assert settings.hashtags == ["fyp", "viral", "trending"]


def test_tests_run_on_their_own_database(sqlite_url: str, tmp_path: Path) -> None:
    settings = get_settings()

    assert settings.database_url == sqlite_url
    assert settings.mlflow_tracking_uri == f"sqlite:///{tmp_path}/mlflow.db"
    assert get_settings() is settings  # cached


def test_cache_clear_rereads_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    assert get_settings().scraper_source is ScraperSource.simulated
    monkeypatch.setenv("SCRAPER_SOURCE", "apify")
    assert get_settings().scraper_source is ScraperSource.simulated
    get_settings.cache_clear()
    assert get_settings().scraper_source is ScraperSource.apify


def test_invalid_scraper_source_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SCRAPER_SOURCE", "bogus")

    with pytest.raises(SettingsError, match="SCRAPER_SOURCE") as caught:
        load_settings()
    assert "'bogus'" in str(caught.value)


def test_get_settings_raises_settings_error_too(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SCRAPER_SOURCE", "bogus")

    with pytest.raises(SettingsError, match="SCRAPER_SOURCE"):
        get_settings()


@pytest.mark.parametrize("value", ["ftp://api.apify.com", "api.apify.com"])
def test_bad_apify_api_url_is_named(monkeypatch: pytest.MonkeyPatch, value: str) -> None:
    monkeypatch.setenv("APIFY_API_URL", value)

    with pytest.raises(SettingsError, match="APIFY_API_URL"):
        load_settings()


def test_empty_variables_fall_back_to_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("APIFY_API_URL", "")
    monkeypatch.setenv("LOG_LEVEL", "")

    settings = load_settings()

    assert settings.apify_api_url == "https://api.apify.com"
    assert settings.log_level == "INFO"


def test_apify_api_url_loses_its_trailing_slash(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("APIFY_API_URL", "http://127.0.0.1:8080/")

    assert load_settings().apify_api_url == "http://127.0.0.1:8080"


@pytest.mark.parametrize("name", ["DATABASE_URL", "MLFLOW_TRACKING_URI"])
def test_database_urls_need_a_scheme(monkeypatch: pytest.MonkeyPatch, name: str) -> None:
    monkeypatch.setenv(name, "data/app.db")

    with pytest.raises(SettingsError, match=name):
        load_settings()


def test_postgres_database_url_is_accepted(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DATABASE_URL", "postgresql://app@db.internal:5432/app")

    assert load_settings().database_url == "postgresql://app@db.internal:5432/app"


def test_every_bad_variable_is_named_and_secrets_never_shown(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    token = "apify_api_S3cr3tT0kenValue42"
    monkeypatch.setenv("APIFY_TOKEN", token)
    monkeypatch.setenv("ADMIN_TOKEN", "admin-S3cr3t")
    monkeypatch.setenv("APIFY_WEBHOOK_SECRET", "hook-S3cr3t")
    monkeypatch.setenv("SENTRY_DSN", "https://key-S3cr3t@sentry.example/1")
    monkeypatch.setenv("SCRAPER_SOURCE", "bogus")
    monkeypatch.setenv("APIFY_RESULTS_PER_HASHTAG", "0")

    with pytest.raises(SettingsError) as caught:
        load_settings()

    message = str(caught.value)
    assert "SCRAPER_SOURCE" in message
    assert "APIFY_RESULTS_PER_HASHTAG" in message
    assert "S3cr3t" not in message
    assert token not in repr(caught.value)
    assert caught.value.__cause__ is None  # the pydantic error (holding inputs) is not chained
    assert caught.value.__suppress_context__


def test_secret_values_are_read_but_hidden(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("APIFY_TOKEN", "apify_api_S3cr3t")

    settings = load_settings()

    assert settings.apify_token is not None
    assert settings.apify_token.get_secret_value() == "apify_api_S3cr3t"
    assert "S3cr3t" not in repr(settings)


def test_secrets_are_not_inherited_from_the_shell(monkeypatch: pytest.MonkeyPatch) -> None:
    # The autouse fixture removed them; this documents that tests start without secrets.
    settings = get_settings()

    assert settings.apify_token is None
    assert settings.admin_token is None


@pytest.mark.parametrize("value", ["debug", "Debug", "DEBUG"])
def test_log_level_is_case_insensitive(monkeypatch: pytest.MonkeyPatch, value: str) -> None:
    monkeypatch.setenv("LOG_LEVEL", value)

    assert load_settings().log_level == "DEBUG"


def test_unknown_log_level_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LOG_LEVEL", "verbose")

    with pytest.raises(SettingsError, match="LOG_LEVEL"):
        load_settings()


def test_non_string_log_level_passes_through_to_validation() -> None:
    with pytest.raises(ValueError, match="log_level"):
        Settings(log_level=10)  # type: ignore[arg-type]


def test_hashtags_are_split_trimmed_and_unprefixed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("APIFY_HASHTAGS", " #fyp, viral ,,#Dance ,")

    assert load_settings().hashtags == ["fyp", "viral", "Dance"]


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("SIMULATED_VIDEOS_PER_DAY", "0"),
        ("APIFY_TIMEOUT_S", "-1"),
        ("APIFY_MAX_WAIT_S", "abc"),
    ],
)
def test_out_of_range_numbers_are_named(
    monkeypatch: pytest.MonkeyPatch, name: str, value: str
) -> None:
    monkeypatch.setenv(name, value)

    with pytest.raises(SettingsError, match=name):
        load_settings()


def test_dotenv_is_not_read_by_tests(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / ".env").write_text("SCRAPER_SOURCE=apify\nAPIFY_TOKEN=from-dotenv\n")
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("SCRAPER_SOURCE")

    settings = load_settings()

    assert settings.scraper_source is ScraperSource.simulated
    assert settings.apify_token is None


def test_dotenv_is_read_outside_tests(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / ".env").write_text("SCRAPER_SOURCE=apify\nAPIFY_TOKEN=from-dotenv\n")
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("SCRAPER_SOURCE")
    monkeypatch.setitem(Settings.model_config, "env_file", ".env")

    settings = load_settings()

    assert settings.scraper_source is ScraperSource.apify
    assert settings.apify_token is not None
    assert settings.apify_token.get_secret_value() == "from-dotenv"


def test_the_mlflow_ui_address_for_run_links(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MLFLOW_UI_URL", raising=False)
    assert Settings().mlflow_ui is None  # a sqlite:// store has no UI to link to
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://mlflow.internal:5000/")
    assert Settings().mlflow_ui == "http://mlflow.internal:5000"  # a tracking server is its own UI
    monkeypatch.setenv("MLFLOW_UI_URL", "https://mlflow.example.com/")
    assert Settings().mlflow_ui == "https://mlflow.example.com"
    monkeypatch.setenv("MLFLOW_UI_URL", "mlflow.example.com")
    with pytest.raises(SettingsError, match="MLFLOW_UI_URL"):
        load_settings()


def _readme_variable_table() -> dict[str, str]:
    """README's configuration table: each variable's documented default, as written."""
    rows: dict[str, str] = {}
    for line in (PROJECT_ROOT / "README.md").read_text().splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if len(cells) != 3 or not cells[0].startswith("`"):
            continue
        names = [name.strip(" `") for name in cells[0].split(",")]
        defaults = [default.strip() for default in cells[1].split(",")]
        if len(defaults) != len(names):  # one default for all, or a list such as `fyp,viral`
            defaults = [cells[1]] * len(names)
        rows.update(zip(names, defaults, strict=True))
    return rows


def _same_value(documented: str, default: object) -> bool:
    written = documented.strip("`")
    if isinstance(default, bool):
        return written == str(default).lower()
    if isinstance(default, int | float):
        return float(written) == default
    return written == str(default)


def test_readme_documents_every_setting_with_its_default() -> None:
    table = _readme_variable_table()
    for name, field in Settings.model_fields.items():
        variable = name.upper()
        assert variable in table, f"README's configuration table lacks {variable}"
        documented, default = table[variable], field.default
        if default is None:
            continue  # documented as unset, or as what stands in (MLFLOW_ARTIFACT_ROOT)
        if documented.startswith("`") and "<" not in documented:  # <repo>: a path, described
            assert _same_value(documented, default), f"{variable}: README {documented}, {default}"
