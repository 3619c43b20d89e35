"""request_run_failures: a run that fails before any op runs still ends its request `failed`.

The runs fail for real: a resource that cannot start fails the run as it begins, before its first
op, which is how a code location that fails to load or a dead run worker leaves a request."""

import dagster as dg
import pytest

from viral_pipeline.definitions import defs as load_defs
from viral_pipeline.defs.predict.jobs import predict
from viral_pipeline.defs.predict.resources import LlmJudges
from viral_pipeline.defs.profiles.jobs import scrape_creator_profile
from viral_pipeline.defs.request_failures import WILL_RETRY_TAG, request_run_failures
from viral_pipeline.defs.resources import Scraper
from viral_pipeline.settings import get_settings
from viral_pipeline.store.db import ready_engine
from viral_pipeline.store.predictions import create_request, get_request, mark_failed
from viral_pipeline.store.profiles import create_profile_request, get_profile_request
from viral_pipeline_tests.test_predict import REQUEST


class JudgesThatCannotStart(LlmJudges):
    def setup_for_execution(self, context: dg.InitResourceContext) -> None:
        raise RuntimeError("judges could not start")


class ScraperThatCannotStart(Scraper):
    def setup_for_execution(self, context: dg.InitResourceContext) -> None:
        raise RuntimeError("scraper could not start")


@pytest.fixture
def defs():
    return load_defs()


def _engine():
    return ready_engine(get_settings().database_url)


def _failed_run(job, defs, instance, tags, config, broken):
    result = job.execute_in_process(
        run_config={"ops": config},
        instance=instance,
        tags=tags,
        raise_on_error=False,
        resources={**defs.resources, **broken},
    )
    assert not result.success
    assert result.get_step_success_events() == []  # not one op ran
    return result


def _evaluate(defs, instance, result):
    run = instance.get_run_by_id(result.run_id)  # with the tags as they are now
    context = dg.build_run_status_sensor_context(
        sensor_name="request_run_failures",
        dagster_event=result.get_run_failure_event(),
        dagster_instance=instance,
        dagster_run=run,
        resources={"app_db": defs.resources["app_db"]},
    ).for_run_failure()
    request_run_failures(context)


def test_a_prediction_whose_run_failed_before_any_op_is_marked_failed(defs, sentry_events):
    instance = dg.DagsterInstance.ephemeral()
    request_id = create_request(_engine(), REQUEST)
    result = _failed_run(
        predict,
        defs,
        instance,
        {"request_id": request_id},
        {"normalize": {"config": {"request_id": request_id}}},
        {"llm_judges": JudgesThatCannotStart.from_settings(get_settings())},
    )
    assert get_request(_engine(), request_id)["status"] == "queued"  # what the run left behind

    _evaluate(defs, instance, result)
    row = get_request(_engine(), request_id)
    assert row["status"] == "failed"
    assert result.run_id in row["error"] and "judges could not start" in row["error"]
    [event] = sentry_events.events()
    assert event["tags"]["request_id"] == request_id and event["tags"]["run_id"] == result.run_id

    _evaluate(defs, instance, result)  # the sensor seeing it again changes nothing
    assert (
        get_request(_engine(), request_id)["error"] == row["error"]
        and len(sentry_events.events()) == 1
    )


def test_a_run_that_will_be_retried_leaves_its_request_alone(defs):
    instance = dg.DagsterInstance.ephemeral()
    request_id = create_request(_engine(), REQUEST)
    result = _failed_run(
        predict,
        defs,
        instance,
        {"request_id": request_id},
        {"normalize": {"config": {"request_id": request_id}}},
        {"llm_judges": JudgesThatCannotStart.from_settings(get_settings())},
    )
    instance.add_run_tags(
        result.run_id, {WILL_RETRY_TAG: "true"}
    )  # as Dagster tags it with run retries on
    _evaluate(defs, instance, result)
    assert get_request(_engine(), request_id)["status"] == "queued"
    instance.add_run_tags(result.run_id, {WILL_RETRY_TAG: "false"})  # retries used up
    _evaluate(defs, instance, result)
    assert get_request(_engine(), request_id)["status"] == "failed"


def test_a_request_that_already_finished_keeps_its_own_outcome(defs):
    instance = dg.DagsterInstance.ephemeral()
    request_id = create_request(_engine(), REQUEST)
    mark_failed(_engine(), request_id, "rules: ValueError: the op's own reason")
    result = _failed_run(
        predict,
        defs,
        instance,
        {"request_id": request_id},
        {"normalize": {"config": {"request_id": request_id}}},
        {"llm_judges": JudgesThatCannotStart.from_settings(get_settings())},
    )
    _evaluate(defs, instance, result)
    assert get_request(_engine(), request_id)["error"] == "rules: ValueError: the op's own reason"
    # A run launched by hand, without a request tag, touches no request.
    untagged = _failed_run(
        predict,
        defs,
        instance,
        {},
        {"normalize": {"config": {"request_id": "nope"}}},
        {"llm_judges": JudgesThatCannotStart.from_settings(get_settings())},
    )
    _evaluate(defs, instance, untagged)


def test_a_profile_request_whose_run_failed_before_any_op_is_marked_failed(defs):
    instance = dg.DagsterInstance.ephemeral()
    request_id = create_profile_request(
        _engine(), "somecreator", {"tiktok_handle": "@somecreator"}
    ).request_id
    result = _failed_run(
        scrape_creator_profile,
        defs,
        instance,
        {"profile_request_id": request_id},
        {"scrape_profile": {"config": {"request_id": request_id}}},
        {"scraper": ScraperThatCannotStart.from_settings(get_settings())},
    )
    assert get_profile_request(_engine(), request_id)["status"] == "queued"
    _evaluate(defs, instance, result)
    row = get_profile_request(_engine(), request_id)
    assert row["status"] == "failed" and "scraper could not start" in row["error"]


def test_the_sensor_is_in_the_code_location_and_running_by_default(defs):
    sensor = defs.get_sensor_def("request_run_failures")
    assert sensor.default_status == dg.DefaultSensorStatus.RUNNING
