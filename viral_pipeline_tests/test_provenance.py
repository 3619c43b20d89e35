"""A champion matches the data it serves.

From a clean instance: bootstrap on the simulated source (the bundled set trains v1), switch to a
scraper source that returns other data (the Apify actor, a real HTTP server on 127.0.0.1), and
retrain. An informative model of the new source is promoted; a model that is not informative is
refused; either way the bundled-simulated champion never serves the new source silently, and the
prediction and its run say which model served and what it was trained on.
"""

from __future__ import annotations

from datetime import date, timedelta

import dagster as dg
import numpy as np
import pytest

from viral_pipeline.definitions import defs as load_defs
from viral_pipeline.engine.model.provenance import (
    TAG_PREFIX,
    Provenance,
    provenance_from,
    serving_decision,
)
from viral_pipeline.engine.world.simulated import generate_day
from viral_pipeline.settings import get_settings
from viral_pipeline.store.db import ready_engine
from viral_pipeline.store.training import videos_by_source
from viral_pipeline_tests.prediction_builders import BUNDLED, PAYLOAD, run_predictions

APIFY = Provenance(
    dataset="database",
    source="apify",
    first_posted_day="2026-10-01",
    last_posted_day="2026-10-12",
    rows=5_900,
)
OTHER_WORLD_SEED = 7  # other creators, sounds and luck than the simulated source's world
# About 18,000 videos over a month: with creators kept apart, the test slice holds about 1,800,
# enough for a model as weak as real pre-posting metadata (ROC AUC about 0.6) to show its skill.
FIRST_DAY, DAYS, PER_DAY = date(2026, 10, 1), 30, 600
SCRAPED_ON = "2026-10-31"


# ---- the rules ---------------------------------------------------------------------------


def test_provenance_round_trips_through_mlflow_tags_and_json():
    assert provenance_from(APIFY.as_tags(), prefix=TAG_PREFIX) == APIFY
    assert provenance_from(APIFY.as_dict()) == APIFY
    assert APIFY.as_tags()["trained_on_rows"] == "5900"
    assert BUNDLED.describe() == "the bundled simulated set (2026-01-01..2026-01-30, 14,768 rows)"
    # A version trained before provenance was recorded, or a malformed record, has none.
    assert (
        provenance_from(None) is None
        and provenance_from({"decision_threshold": "0.2"}, prefix=TAG_PREFIX) is None
    )
    assert provenance_from(dict(APIFY.as_dict(), dataset="elsewhere")) is None
    assert provenance_from(dict(APIFY.as_dict(), rows="many")) is None


def test_a_champion_of_another_source_serves_only_when_allowed_and_never_silently():
    same = serving_decision("3", APIFY, "apify", allow_other_source=False)
    assert same.allowed and not same.mismatch and same.reason is None
    refused = serving_decision("1", BUNDLED, "apify", allow_other_source=False)
    assert not refused.allowed and refused.mismatch
    assert (
        "'simulated'" in refused.reason
        and "'apify'" in refused.reason
        and "SERVE_MODEL_FROM_OTHER_SOURCE" in refused.reason
    )
    allowed = serving_decision("1", BUNDLED, "apify", allow_other_source=True)
    assert allowed.allowed and allowed.mismatch and "serving it anyway" in allowed.reason
    unknown = serving_decision("1", None, "simulated", allow_other_source=False)
    assert not unknown.allowed and "not recorded" in unknown.reason


# ---- the product, end to end ---------------------------------------------------------------


def _other_world_items(informative: bool) -> list[dict]:
    items = [
        item
        for k in range(DAYS)
        for item in generate_day(
            FIRST_DAY + timedelta(days=k), PER_DAY, world_seed=OTHER_WORLD_SEED
        ).items
    ]
    if not informative:
        # Plays shuffled across videos: nothing known before posting says anything about them.
        valid = [item for item in items if isinstance(item.get("playCount"), int)]
        plays = np.random.default_rng(0).permutation([item["playCount"] for item in valid])
        for item, count in zip(valid, plays.tolist()):
            item["playCount"] = count
    return items


def _retrain(defs, instance):
    return defs.resolve_job_def("retrain_ml_job").execute_in_process(
        instance=instance, raise_on_error=False
    )


def _predict(defs, instance) -> tuple[dict, dg.ExecuteInProcessResult]:
    ((result, run),) = run_predictions(
        defs, instance, ready_engine(get_settings().database_url), [PAYLOAD]
    )
    return result, run


def _ml_output_metadata(run: dg.ExecuteInProcessResult) -> dict:
    (event,) = [e for e in run.events_for_node("ml") if e.event_type_value == "STEP_OUTPUT"]
    return {key: value.value for key, value in event.event_specific_data.metadata.items()}


def _switch_to_apify(monkeypatch, fake_apify, informative: bool):
    """SCRAPER_SOURCE=apify, and one scrape whose actor run returns the other world's videos."""
    monkeypatch.setenv("SCRAPER_SOURCE", "apify")
    get_settings.cache_clear()
    defs = load_defs()
    fake_apify.next_run(dataset_items=_other_world_items(informative))
    return defs


def _scrape(defs, instance) -> None:
    """The scheduled scrape, then trending_sounds (its sensor would recompute it after a scrape)."""
    assert (
        defs.resolve_job_def("scrape_job")
        .execute_in_process(partition_key=SCRAPED_ON, instance=instance)
        .success
    )
    assert defs.resolve_job_def("trending_sounds_job").execute_in_process(instance=instance).success


@pytest.fixture
def bootstrapped():
    """A clean instance bootstrapped on the simulated source: the bundled set trains champion v1."""
    instance = dg.DagsterInstance.ephemeral()
    first = _retrain(load_defs(), instance)
    assert first.success
    champion = first.asset_materializations_for_node("champion_model")[0].metadata
    assert (
        champion["serving_version"].value == "1"
        and champion["serving_trained_on_source"].value == "simulated"
    )
    return instance


def test_an_informative_model_of_the_new_source_is_promoted_and_serves_it(
    bootstrapped, fake_apify, monkeypatch
):
    instance = bootstrapped
    defs = _switch_to_apify(monkeypatch, fake_apify, informative=True)

    # Before the retrain, the bundled champion does not serve real requests silently.
    before, _ = _predict(defs, instance)
    assert before["signals"]["ml"]["available"] is False and before["model_source_mismatch"] is True
    assert before["model_trained_on"]["dataset"] == "bundled"
    assert (
        "'simulated'" in before["signals"]["ml"]["reason"]
        and "'apify'" in before["signals"]["ml"]["reason"]
    )
    assert before["viral_probability"] is None and before["signals"]["rules"]["weight"] > 0.15

    _scrape(defs, instance)
    assert videos_by_source(ready_engine(get_settings().database_url))["apify"] > 17_000

    retrained = _retrain(defs, instance)
    assert retrained.success
    training = retrained.asset_materializations_for_node("training_set")[0].metadata
    assert training["source"].value == "database" and training["scraper_source"].value == "apify"
    assert (
        training["first_posted_day"].value == "2026-10-01"
        and training["last_posted_day"].value == "2026-10-30"
    )
    (gate,) = retrained.get_asset_check_evaluations()
    assert gate.passed, gate.metadata
    # The simulated champion is no yardstick for apify data: no regression checks against it.
    assert "counts as no champion" in gate.metadata["notes"].value
    assert not any(key.startswith("no_regression_") for key in gate.metadata)
    champion = retrained.asset_materializations_for_node("champion_model")[0].metadata
    assert champion["promoted"].value is True and champion["serving_version"].value == "2"
    assert (
        champion["serving_trained_on_source"].value == "apify"
        and champion["serves_configured_source"].value
    )

    after, run = _predict(defs, instance)
    assert after["signals"]["ml"]["available"] is True and after["model_version"] == "2"
    assert (
        after["model_trained_on"]["source"] == "apify" and after["model_source_mismatch"] is False
    )
    assert after["probability_source"] == "champion_model" and 0 < after["viral_probability"] < 1
    assert _ml_output_metadata(run)["model_source_mismatch"] is False


def test_an_uninformative_model_is_refused_and_the_simulated_champion_still_does_not_serve(
    bootstrapped, fake_apify, monkeypatch
):
    instance = bootstrapped
    defs = _switch_to_apify(monkeypatch, fake_apify, informative=False)
    _scrape(defs, instance)

    retrained = _retrain(defs, instance)
    assert not retrained.success
    (gate,) = retrained.get_asset_check_evaluations()
    assert not gate.passed and gate.metadata["roc_auc_ci_low_passed"].value is False
    assert not retrained.asset_materializations_for_node(
        "champion_model"
    )  # blocked in the same run

    refused, run = _predict(defs, instance)
    ml = refused["signals"]["ml"]
    assert ml["available"] is False and refused["model_version"] == "1"
    assert "bundled simulated set" in ml["reason"] and "'apify'" in ml["reason"]
    assert (
        refused["model_source_mismatch"] is True
        and _ml_output_metadata(run)["model_source_mismatch"] is True
    )
    assert (
        refused["viral_probability"] is None
        and "ML signal is unavailable" in refused["probability_note"]
    )

    # Allowed explicitly, it serves, and the result and the run's metadata say so.
    monkeypatch.setenv("SERVE_MODEL_FROM_OTHER_SOURCE", "true")
    get_settings.cache_clear()
    allowed, run = _predict(load_defs(), instance)
    assert (
        allowed["signals"]["ml"]["available"] is True
        and "serving it anyway" in allowed["signals"]["ml"]["reason"]
    )
    assert (
        allowed["model_source_mismatch"] is True
        and allowed["model_trained_on"]["source"] == "simulated"
    )
    assert _ml_output_metadata(run)["model_source_mismatch"] is True
