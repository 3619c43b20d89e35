"""Creator profiles on demand: the handle rule, the simulated and Apify profiles, the profile_requests
sensor and the scrape_creator_profile runs it launches (for real, in a Dagster instance), and the
profile winning over video-derived rows."""

import json
from datetime import UTC, datetime, timedelta

import dagster as dg
import pytest
import sqlalchemy as sa

from viral_pipeline.definitions import defs as load_defs
from viral_pipeline.defs.profiles.sensors import profile_requests
from viral_pipeline.engine.inputs.creators import follower_tier
from viral_pipeline.engine.inputs.handles import normalize_handle
from viral_pipeline.engine.inputs.profiles import (
    CreatorProfile,
    ProfileNotFound,
    profile_from_items,
    simulated_profile,
)
from viral_pipeline.engine.world.simulated import world
from viral_pipeline.settings import get_settings
from viral_pipeline.store.creators import refresh_creator_profiles
from viral_pipeline.store.db import ready_engine
from viral_pipeline.store.profiles import (
    create_profile_request,
    creator_by_handle,
    get_profile_request,
    mark_profile_failed,
    upsert_profile,
)
from viral_pipeline.store.schema import creators

AUTHOR = world().author(7)  # a creator of the simulated world


def _engine():
    return ready_engine(get_settings().database_url)


def _creators():
    with _engine().connect() as connection:
        return connection.execute(sa.select(creators).order_by(creators.c.author_id)).fetchall()


def _tick(instance, defs, cursor=None):
    resources = {key: defs.resources[key] for key in ("app_db", "profile_limits")}
    return profile_requests.evaluate_tick(
        dg.build_sensor_context(instance=instance, cursor=cursor, resources=resources)
    )


def _scrape(handle):
    """Queue a request, let the sensor pick it up and run the job it asks for, like the daemon would."""
    defs = load_defs()
    instance = dg.DagsterInstance.ephemeral()
    request_id = create_profile_request(
        _engine(), normalize_handle(handle), {"tiktok_handle": handle}
    ).request_id
    (run_request,) = _tick(instance, defs).run_requests
    result = defs.resolve_job_def("scrape_creator_profile").execute_in_process(
        run_config=run_request.run_config,
        instance=instance,
        tags=run_request.tags,
        raise_on_error=False,
    )
    return result, get_profile_request(_engine(), request_id)


# ---- engine ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "raw, handle",
    [("@Alex.Daily", "Alex.Daily"), ("  chef_1 ", "chef_1"), ("@" + "a" * 64, "a" * 64)],
)
def test_a_handle_loses_its_at_and_keeps_its_case(raw, handle):
    assert normalize_handle(raw) == handle


@pytest.mark.parametrize("raw", ["", "@", " @ ", "a b", "a/b", "x" * 65, "naïve"])
def test_a_handle_outside_the_tiktok_rule_is_refused(raw):
    with pytest.raises(ValueError):
        normalize_handle(raw)


def test_the_simulated_profile_is_the_world_creator_its_videos_show():
    profile = simulated_profile("@" + AUTHOR["name"].upper())
    assert profile == CreatorProfile(
        AUTHOR["id"], AUTHOR["name"], AUTHOR["fans"], AUTHOR["verified"]
    )
    assert profile.author_id.isdigit() and len(profile.author_id) == 19
    assert simulated_profile(AUTHOR["name"]) == profile  # deterministic
    with pytest.raises(ProfileNotFound, match="simulated world has no such creator"):
        simulated_profile("nobody.in.this.world")


def test_the_profile_comes_from_the_authormeta_of_a_real_actor_item(shared_apify_dir):
    item = json.loads((shared_apify_dir / "clockworks_item.json").read_text())
    other = {**item, "authorMeta": {**item["authorMeta"], "name": "someone_else", "id": "1"}}
    profile = profile_from_items(
        "@SwareCito", ["junk", {"id": "2", "authorMeta": {"name": ""}}, other, item]
    )
    assert profile == CreatorProfile("7424447537598055456", "swarecito", 2002, False)


def test_the_actors_error_row_means_the_profile_does_not_exist(shared_apify_dir):
    rows = json.loads((shared_apify_dir / "clockworks_error_rows.json").read_text())
    with pytest.raises(ProfileNotFound, match="This profile/hashtag does not exist"):
        profile_from_items("howtogpt.co", rows[:1])
    with pytest.raises(ProfileNotFound, match="no video by this handle"):
        profile_from_items("howtogpt.co", [])


# ---- store -----------------------------------------------------------------------------------


def test_a_profile_wins_over_video_data_and_keeps_known_counts(app_engine):
    from datetime import UTC, datetime

    from viral_pipeline.store.videos import ingest_items
    from viral_pipeline_tests.factories import make_item

    posted = datetime(2026, 11, 20, 12, tzinfo=UTC)
    ingest_items(
        app_engine,
        [
            make_item(
                "7400000000000000001",
                posted=posted,
                author_id="55",
                handle="Chef",
                fans=500,
                verified=False,
            )
        ],
        source="simulated",
        batch="t",
    )
    refresh_creator_profiles(app_engine)
    assert creator_by_handle(app_engine, "@CHEF").source == "scrape"
    upsert_profile(app_engine, CreatorProfile("55", "chef", 250_000, True))
    upsert_profile(
        app_engine, CreatorProfile("55", "chef", None, None)
    )  # an unknown count erases nothing
    refresh_creator_profiles(app_engine)  # the daily refresh from video data does not overwrite it
    known = creator_by_handle(app_engine, "chef")
    assert known == CreatorProfile("55", "chef", 250_000, True, source="profile")
    with app_engine.connect() as connection:
        assert connection.execute(sa.select(creators.c.follower_tier)).scalar() == "mid"
    assert creator_by_handle(app_engine, "someone") is None


# ---- sensor and job ----------------------------------------------------------------------------


def test_the_sensor_launches_one_run_per_queued_request_with_a_cursor_and_a_cap(monkeypatch):
    monkeypatch.setenv("PROFILE_MAX_RUNS_PER_TICK", "2")
    get_settings.cache_clear()
    defs = load_defs()
    ids = [
        create_profile_request(
            _engine(), f"creator{i}", {"tiktok_handle": f"creator{i}"}
        ).request_id
        for i in range(3)
    ]
    instance = dg.DagsterInstance.ephemeral()
    first = _tick(instance, defs)
    assert [r.run_key for r in first.run_requests] == ids[:2]
    second = _tick(instance, defs, first.cursor)
    assert [r.run_key for r in second.run_requests] == ids[2:]
    assert second.run_requests[0].tags["profile_request_id"] == ids[2]
    assert "loggers" in second.run_requests[0].run_config  # JSON run logs
    assert _tick(instance, defs, second.cursor).run_requests == []


def test_a_simulated_profile_scrape_fills_creators_and_succeeds(capfd):
    from viral_pipeline.observability import configure_logging

    configure_logging("INFO", force=True)
    result, request = _scrape("@" + AUTHOR["name"])
    assert (
        result.success and request["status"] == "succeeded" and request["finished_at"] is not None
    )
    assert request["dagster_run_id"] == result.run_id
    (row,) = _creators()
    assert (row.author_id, row.handle, row.followers, row.verified, row.source) == (
        AUTHOR["id"],
        AUTHOR["name"],
        AUTHOR["fans"],
        AUTHOR["verified"],
        "profile",
    )
    assert row.follower_tier == follower_tier(AUTHOR["fans"])
    (output,) = [
        e for e in result.events_for_node("scrape_profile") if e.event_type_value == "STEP_OUTPUT"
    ]
    assert output.event_specific_data.metadata["followers"].value == AUTHOR["fans"]
    lines = [
        json.loads(line) for line in capfd.readouterr().err.splitlines() if line.startswith("{")
    ]
    assert any(
        line.get("event") == "creator profile stored" and line["handle"] == AUTHOR["name"]
        for line in lines
    )


def test_a_handle_that_does_not_exist_fails_the_request_with_its_reason_and_writes_nothing():
    result, request = _scrape("nobody.in.this.world")
    assert result.success  # an answer, not a crash: no run retry would change it
    assert request["status"] == "failed" and "not found" in request["error"]
    assert "simulated world has no such creator" in request["error"]
    assert _creators() == []


def _apify(monkeypatch, fake_apify):
    monkeypatch.setenv("SCRAPER_SOURCE", "apify")
    monkeypatch.setenv("APIFY_TIMEOUT_S", "5")
    get_settings.cache_clear()


def test_an_apify_profile_scrape_reads_authormeta_from_the_actor(
    monkeypatch, fake_apify, shared_apify_dir
):
    _apify(monkeypatch, fake_apify)
    item = json.loads((shared_apify_dir / "clockworks_item.json").read_text())
    fake_apify.next_run(dataset_items=[item], finishes_after_polls=1)
    result, request = _scrape("@swarecito")
    assert result.success and request["status"] == "succeeded"
    (row,) = _creators()
    assert (row.author_id, row.followers, row.verified, row.follower_tier, row.source) == (
        "7424447537598055456",
        2002,
        False,
        "nano",
        "profile",
    )
    (started,) = fake_apify.requests_to("/v2/acts/", method="POST")
    assert started.body["profiles"] == ["swarecito"] and started.body["resultsPerPage"] == 3
    assert started.body["shouldDownloadVideos"] is False


def test_an_apify_error_row_fails_the_request_as_not_found(
    monkeypatch, fake_apify, shared_apify_dir
):
    _apify(monkeypatch, fake_apify)
    rows = json.loads((shared_apify_dir / "clockworks_error_rows.json").read_text())
    fake_apify.next_run(dataset_items=rows[:1])
    result, request = _scrape("howtogpt.co")
    assert result.success and request["status"] == "failed"
    assert "This profile/hashtag does not exist" in request["error"]
    assert _creators() == []


def test_an_apify_outage_fails_the_run_marks_the_request_and_reports_it(
    monkeypatch, fake_apify, sentry_events
):
    _apify(monkeypatch, fake_apify)
    fake_apify.fail_next("/v2/acts/", 403)  # a client error: not retried
    result, request = _scrape("swarecito")
    assert not result.success
    assert (
        request["status"] == "failed"
        and "scrape_profile" in request["error"]
        and "403" in request["error"]
    )
    assert fake_apify.token not in request["error"]
    assert sentry_events.events()[-1]["tags"]["request_id"] == request["request_id"]
    assert _creators() == []


def test_a_request_that_already_succeeded_is_not_scraped_again():
    defs = load_defs()
    instance = dg.DagsterInstance.ephemeral()
    request_id = create_profile_request(
        _engine(), AUTHOR["name"], {"tiktok_handle": AUTHOR["name"]}
    ).request_id
    (run_request,) = _tick(instance, defs).run_requests
    job = defs.resolve_job_def("scrape_creator_profile")
    assert job.execute_in_process(
        run_config=run_request.run_config, instance=instance, tags=run_request.tags
    ).success
    again = job.execute_in_process(
        run_config=run_request.run_config, instance=instance, tags=run_request.tags
    )
    (output,) = [
        e for e in again.events_for_node("scrape_profile") if e.event_type_value == "STEP_OUTPUT"
    ]
    assert output.event_specific_data.metadata["outcome"].value == "already_succeeded"
    assert get_profile_request(_engine(), request_id)["status"] == "succeeded"


def test_a_retried_run_of_a_superseded_request_scrapes_nothing():
    """The caller queued the handle again after its request failed: the old request's run retry
    yields to the newer request (which scrapes the handle) and writes nothing."""
    defs = load_defs()
    instance = dg.DagsterInstance.ephemeral()
    engine = _engine()
    old = create_profile_request(
        engine, AUTHOR["name"], {"tiktok_handle": AUTHOR["name"]}, "backend"
    ).request_id
    mark_profile_failed(engine, old, "scrape_profile: Apify down")
    create_profile_request(engine, AUTHOR["name"], {"tiktok_handle": AUTHOR["name"]}, "backend")
    retry = defs.resolve_job_def("scrape_creator_profile").execute_in_process(
        run_config={"ops": {"scrape_profile": {"config": {"request_id": old}}}},
        instance=instance,
    )
    (output,) = [
        e for e in retry.events_for_node("scrape_profile") if e.event_type_value == "STEP_OUTPUT"
    ]
    assert output.event_specific_data.metadata["outcome"].value == "superseded"
    assert get_profile_request(engine, old)["status"] == "failed"
    assert _creators() == []


def test_an_unknown_request_id_fails_the_run():
    defs = load_defs()
    result = defs.resolve_job_def("scrape_creator_profile").execute_in_process(
        run_config={"ops": {"scrape_profile": {"config": {"request_id": "nope"}}}},
        instance=dg.DagsterInstance.ephemeral(),
        raise_on_error=False,
    )
    assert not result.success


# ---- later predictions use the profile ---------------------------------------------------------


def _predict(creator):
    """One prediction through the prediction_requests sensor and a real predict run: its normalize output."""
    from viral_pipeline.defs.predict.sensors import prediction_requests
    from viral_pipeline.store.predictions import create_request
    from viral_pipeline_tests.test_predict import REQUEST

    defs = load_defs()
    instance = dg.DagsterInstance.ephemeral()
    create_request(_engine(), {**REQUEST, "creator": creator})
    resources = {key: defs.resources[key] for key in ("app_db", "prediction_limits")}
    (run_request,) = prediction_requests.evaluate_tick(
        dg.build_sensor_context(instance=instance, resources=resources)
    ).run_requests
    result = defs.resolve_job_def("predict").execute_in_process(
        run_config=run_request.run_config, instance=instance, tags=run_request.tags
    )
    (output,) = [
        e for e in result.events_for_node("normalize") if e.event_type_value == "STEP_OUTPUT"
    ]
    return result.output_for_node("normalize").value, output.event_specific_data.metadata[
        "followers_source"
    ].value


def _ml_features(request):
    import pandas as pd

    from viral_pipeline.engine.inputs.request import feature_row
    from viral_pipeline.engine.model.features import build_features

    return build_features(pd.DataFrame([feature_row(request, 0.0)])).iloc[0]


def test_after_the_profile_scrape_predictions_for_the_creator_use_its_follower_tier():
    handle = "@" + AUTHOR["name"].upper()
    before, source = _predict({"handle": handle})
    assert before.followers is None and before.verified is None and source == "unknown"
    assert _ml_features(before).isna()[["follower_tier", "log_followers"]].all()

    result, _ = _scrape(AUTHOR["name"])
    assert result.success

    after, source = _predict({"handle": handle})
    assert source == "creators:profile"
    assert (after.followers, after.verified) == (AUTHOR["fans"], AUTHOR["verified"])
    features = _ml_features(after)
    tiers = ["starter", "nano", "micro", "mid", "mega"]
    assert features["follower_tier"] == tiers.index(follower_tier(AUTHOR["fans"]))
    assert features["log_followers"] == pytest.approx(__import__("math").log1p(AUTHOR["fans"]))


def test_values_given_in_the_request_win_over_the_profile():
    upsert_profile(_engine(), CreatorProfile("99", "chef", 250_000, True))
    request, source = _predict({"handle": "chef", "followers": 10})
    assert (request.followers, request.verified, source) == (10, True, "request")
    request, source = _predict({"handle": "chef", "followers": 10, "verified": False})
    assert (request.followers, request.verified, source) == (10, False, "request")
    request, source = _predict({"followers": 10})
    assert (request.creator_handle, request.followers, source) == (None, 10, "request")


def test_fill_creator_says_where_followers_came_from():
    from datetime import UTC, datetime

    from viral_pipeline.engine.inputs.profiles import fill_creator
    from viral_pipeline.engine.inputs.request import AnalyzeRequest, normalize

    request = normalize(
        AnalyzeRequest(caption="x", duration_s=10, creator={"handle": "@chef"}),
        now=datetime(2026, 11, 28, tzinfo=UTC),
    )
    scraped = CreatorProfile("1", "chef", 4_000, None, source="scrape")
    filled, source = fill_creator(request, scraped)
    assert (filled.followers, filled.verified, source) == (4_000, None, "creators:scrape")
    filled, source = fill_creator(request, CreatorProfile("1", "chef", None, True, source="scrape"))
    assert (filled.followers, filled.verified, source) == (None, True, "unknown")
    assert fill_creator(request, None) == (request, "unknown")


def test_a_queued_profile_request_behind_the_cursor_is_requested_again_once_stale():
    defs, instance = load_defs(), dg.DagsterInstance.ephemeral()
    engine = ready_engine(get_settings().database_url)
    request_id = create_profile_request(
        engine, "somebody", {"tiktok_handle": "somebody"}
    ).request_id
    assert (
        _tick(instance, defs, cursor="50").run_requests == []
    )  # young: the cursor race may still settle
    with engine.begin() as connection:
        connection.execute(
            sa.text("UPDATE profile_requests SET created_at = :old WHERE request_id = :rid"),
            {"old": datetime.now(UTC) - timedelta(minutes=5), "rid": request_id},
        )
    tick = _tick(instance, defs, cursor="50")
    assert [r.run_key for r in tick.run_requests] == [request_id] and tick.cursor == "50"
