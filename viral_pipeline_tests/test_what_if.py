"""What-if suggestions: each candidate scored by the champion that scored the request, on the row
the `ml` op would build for the changed request; the best hour and the largest lifts picked."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime, timedelta

import dagster as dg
import numpy as np
import pytest

from viral_pipeline.definitions import defs as load_defs
from viral_pipeline.engine.inputs.request import (
    AnalyzeRequest,
    merge_hashtags,
    model_row,
    normalize,
    validate_stored,
)
from viral_pipeline.engine.model import what_if
from viral_pipeline.engine.model.classifier import ModelParams, train_calibrated
from viral_pipeline.engine.model.content import topic_tags
from viral_pipeline.engine.model.creator_history import PriorVideo, history_of
from viral_pipeline.engine.signals.trends_match import (
    TrendingSound,
    TrendSnapshot,
    sound_trend_score,
)
from viral_pipeline.ml.compiled import compile_model
from viral_pipeline.ml.loaded import LoadedModel
from viral_pipeline.ml.published import PublishedChampion, publish
from viral_pipeline.settings import get_settings
from viral_pipeline.store.content_uses import recent_tag_uses
from viral_pipeline.store.creator_history import prior_videos
from viral_pipeline.store.db import ready_engine
from viral_pipeline.store.predictions import create_request, get_request
from viral_pipeline.store.trend_snapshot import load_trend_snapshot
from viral_pipeline.store.trends import compute_trending_sounds
from viral_pipeline.store.videos import ingest_items
from viral_pipeline_tests.bundled_features import bundled_features
from viral_pipeline_tests.factories import make_item
from viral_pipeline_tests.prediction_builders import BUNDLED, scrape_simulated_day

POSTED = datetime(2026, 11, 28, 16, 30, tzinfo=UTC)
PAYLOAD = {
    "caption": "the 10-minute pasta #food",
    "hashtags": ["easyrecipe", "cooking", "pasta", "dinner"],
    "sound": {"name": "golden dreams", "author": "someone", "original": False},
    "duration_s": 24,
    "posted_at": POSTED.isoformat(),
    "creator": {"handle": "chef", "followers": 25000, "verified": False},
}
SNAPSHOT = TrendSnapshot(
    day=date(2026, 11, 27),
    sounds=tuple(
        TrendingSound(f"70000000000000000{k:02d}", f"hit {k}", f"artist {k}", 1.0 - k / 20)
        for k in range(12)
    ),
    hashtags={"fyp": 0.4, "viral": 0.2, "food": 0.15, "foryou": 0.1, "bad tag": 0.05},
)
PRIOR = [
    PriorVideo(POSTED - timedelta(days=d, hours=3), 10**5 * d, 400, 380 - 20 * d)
    for d in range(1, 6)
]


@pytest.fixture(scope="module")
def bundled():
    return bundled_features()[1:]


@pytest.fixture(scope="module")
def fitted(bundled):
    X, y = bundled
    return train_calibrated(
        X[:6000], y[:6000], X[6000:9000], y[6000:9000], ModelParams(max_iter=40)
    )


def _request(**changes):
    return replace(normalize(AnalyzeRequest.model_validate(PAYLOAD)), **changes)


# Recent uses per topic hashtag, as store/content_uses.py counts them: the request's own tags and
# some a candidate adds; absent tags had none.
TAG_USES = {"pasta": 40, "cooking": 900, "food": 2400, "dinner": 15}


def _history_at(posted_at):
    return history_of(PRIOR, posted_at, quantile=0.9, window_days=1)


def _one_by_one(champion, request, snapshot):
    """The champion's probability of the request as the `ml` op scores one: a row at a time."""
    trend = sound_trend_score(request, snapshot)
    row = model_row(request, trend, _history_at(request.posted_at), TAG_USES)
    return champion.probability(row)


def _suggest(champion, request, snapshot=SNAPSHOT):
    base = _one_by_one(champion, request, snapshot)
    return base, what_if.suggest(
        request,
        what_if.candidates(request, snapshot),
        base_probability=base,
        snapshot=snapshot,
        history_at=_history_at,
        tag_uses=TAG_USES,
        score=champion.probabilities,
        model_version="1",
    )


def test_the_candidates_are_concrete_changes_of_the_request():
    request = _request()
    found = what_if.candidates(request, SNAPSHOT)
    hours = [c.request.posted_at for c in found if c.kind == "posting_hour"]
    assert hours == [datetime(2026, 11, 28, 17, tzinfo=UTC) + timedelta(hours=k) for k in range(48)]
    assert what_if.posting_hours(datetime(2026, 11, 28, 17, tzinfo=UTC))[0].hour == 17
    by_kind = {kind: [c for c in found if c.kind == kind] for kind in ("hashtags", "sound")}
    # The three most used trending tags it lacks ("bad tag" is no tag the API would take), then
    # the listed tags dropped from the end; the caption's #food always stays.
    assert [c.details["hashtags"] for c in by_kind["hashtags"]] == [
        [*request.hashtags, "fyp"],
        [*request.hashtags, "viral"],
        [*request.hashtags, "foryou"],
        ["food"],
        ["easyrecipe", "food"],
        ["easyrecipe", "cooking", "food"],
        ["easyrecipe", "cooking", "pasta", "food"],
    ]
    assert all("food" in merge_hashtags(c.request.hashtags, c.request.caption) for c in found)
    assert [c.details["sound"].id for c in by_kind["sound"]] == [
        s.music_id for s in SNAPSHOT.sounds[:3]
    ]
    assert [c.request.duration_s for c in found if c.kind == "duration"] == [10, 15, 20, 30, 45, 60]
    # Every candidate changes one thing: the rest of the request is the request.
    for c in found:
        changed = {f for f in request.__slots__ if getattr(c.request, f) != getattr(request, f)}
        assert (
            changed
            <= {
                "posting_hour": {"posted_at"},
                "hashtags": {"hashtags"},
                "sound": {"sound_name", "sound_author", "sound_id"},
                "duration": {"duration_s"},
            }[c.kind]
        )
        assert changed


def test_a_request_on_a_trending_sound_is_not_offered_it_again():
    top = SNAPSHOT.sounds[0]
    request = _request(sound_id=top.music_id, sound_name=top.name)
    sounds = [
        c.details["sound"].id for c in what_if.candidates(request, SNAPSHOT) if c.kind == "sound"
    ]
    assert sounds == [s.music_id for s in SNAPSHOT.sounds[1:4]]


@pytest.mark.parametrize("compiled", [True, False])
def test_each_suggestion_is_the_champions_probability_of_the_changed_request(fitted, compiled):
    champion = LoadedModel(
        "viral_classifier", "1", compile_model(fitted) if compiled else fitted, 0.2
    )
    request = _request()
    base, suggestions = _suggest(champion, request)
    found = what_if.candidates(request, SNAPSHOT)
    one_by_one = np.array([_one_by_one(champion, c.request, SNAPSHOT) for c in found])
    # One matrix call gives what scoring each changed request alone gives.
    np.testing.assert_allclose(
        champion.probabilities(what_if.candidate_rows(found, SNAPSHOT, _history_at, TAG_USES)),
        one_by_one,
        rtol=0,
        atol=1e-12,
    )
    assert suggestions.available and suggestions.candidates_scored == len(found)
    assert suggestions.viral_probability == pytest.approx(base, abs=5e-7)

    best = suggestions.best_posting_hour
    assert best is not None and best.kind == "posting_hour"
    hour = int(np.argmax(one_by_one[:48]))  # the earliest of a tie
    assert best.posted_at == found[hour].request.posted_at
    assert best.viral_probability == pytest.approx(one_by_one[hour], abs=5e-7)
    assert best.lift == pytest.approx(one_by_one[hour] - base, abs=5e-7)
    assert one_by_one[:48].std() > 0  # the hour matters to this champion: a real choice

    lifts = one_by_one - base
    best_lift = {
        kind: max(lifts[i] for i, c in enumerate(found) if c.kind == kind)
        for kind in ("hashtags", "sound", "duration")
    }
    expected = sorted(
        (k for k in best_lift if best_lift[k] >= what_if.MIN_LIFT), key=lambda k: -best_lift[k]
    )
    assert [c.kind for c in suggestions.changes] == expected[:2]
    assert suggestions.changes, "this champion prefers some change: the test must show one"
    for change in suggestions.changes:
        i = next(
            i for i, c in enumerate(found) if c.kind == change.kind and c.change == change.change
        )
        assert change.viral_probability == pytest.approx(one_by_one[i], abs=5e-7)
        assert change.lift == pytest.approx(best_lift[change.kind], abs=5e-7)
        assert change.lift == pytest.approx(change.viral_probability - base, abs=1e-6)


def test_without_trends_the_hour_hashtag_counts_and_durations_remain(fitted):
    champion = LoadedModel("viral_classifier", "1", compile_model(fitted), 0.2)
    _, suggestions = _suggest(champion, _request(), TrendSnapshot.empty())
    kinds = {c.kind for c in what_if.candidates(_request(), TrendSnapshot.empty())}
    assert kinds == {"posting_hour", "hashtags", "duration"}
    assert suggestions.candidates_scored == 48 + 4 + 6
    assert all(c.kind != "sound" for c in suggestions.changes)


def _predict(engine, payload) -> tuple[dict, str]:
    request_id = create_request(engine, payload)
    run = (
        load_defs()
        .resolve_job_def("predict")
        .execute_in_process(
            run_config={"ops": {"normalize": {"config": {"request_id": request_id}}}},
            instance=dg.DagsterInstance.ephemeral(),
        )
    )
    assert run.success
    return get_request(engine, request_id)["result"], request_id


def test_a_predict_run_returns_the_suggestions_of_the_champion_that_scored_it(fitted):
    engine = ready_engine(get_settings().database_url)
    for day in range(3, 0, -1):
        scrape_simulated_day(engine, POSTED.date() - timedelta(days=day), n=300)
    chef = [  # the day before, and earlier today: a label window that closes before tomorrow
        make_item(f"76000000000000000{k:02d}", posted=at, plays=10**6 * (k + 1), handle="chef")
        for k, at in enumerate((POSTED - timedelta(days=1), POSTED - timedelta(hours=2)))
    ]
    ingest_items(engine, chef, source="simulated", batch="chef", now=POSTED)
    compute_trending_sounds(engine)
    publish(engine, "viral_classifier", "4", fitted, 0.2, BUNDLED)
    served, request_id = _predict(engine, PAYLOAD)

    suggestions = served["suggestions"]
    assert suggestions["available"] and suggestions["model_version"] == "4"
    assert suggestions["viral_probability"] == pytest.approx(served["viral_probability"], abs=1e-6)
    # Recomputed from the outside: the stored request, the same snapshot, champion and history.
    stored = get_request(engine, request_id)
    request = normalize(validate_stored(stored["payload"]), now=stored["created_at"])
    snapshot = load_trend_snapshot(engine, as_of=request.posted_at.date())
    champion = PublishedChampion("viral_classifier").get(engine)
    found = what_if.candidates(request, snapshot)

    def probability(candidate) -> float:
        at = candidate.request.posted_at
        history = history_of(
            prior_videos(engine, "chef", at, window_days=1), at, quantile=0.9, window_days=1
        )
        trend = sound_trend_score(candidate.request, snapshot)
        # Hashtag uses are counted at the request's posting time for every candidate.
        tags = topic_tags(candidate.request.hashtags)
        uses = recent_tag_uses(engine, tags, request.posted_at)
        return champion.probability(model_row(candidate.request, trend, history, uses))

    hours = [probability(c) for c in found[:48]]
    best = suggestions["best_posting_hour"]
    assert (
        datetime.fromisoformat(best["posted_at"]) == found[int(np.argmax(hours))].request.posted_at
    )
    assert best["viral_probability"] == pytest.approx(max(hours), abs=5e-7)
    for change in suggestions["changes"]:
        candidate = next(c for c in found if c.change == change["change"])
        assert change["viral_probability"] == pytest.approx(probability(candidate), abs=5e-7)
    assert {c.kind for c in found} == {"posting_hour", "hashtags", "sound", "duration"}


def test_without_a_champion_there_are_no_suggestions_and_the_result_says_why():
    served, _ = _predict(ready_engine(get_settings().database_url), PAYLOAD)
    suggestions = served["suggestions"]
    assert suggestions["available"] is False and suggestions["changes"] == []
    assert suggestions["best_posting_hour"] is None
    assert suggestions["reason"] == served["signals"]["ml"]["reason"]
    assert "champion" in suggestions["reason"]


def test_a_failure_of_the_suggestions_leaves_the_prediction_served(
    fitted, monkeypatch, sentry_events
):
    engine = ready_engine(get_settings().database_url)
    publish(engine, "viral_classifier", "5", fitted, 0.2, BUNDLED)

    def broken(*args, **kwargs):
        raise ZeroDivisionError("a candidate nobody foresaw")

    monkeypatch.setattr(what_if, "suggest", broken)
    served, _ = _predict(engine, PAYLOAD)
    assert served["signals"]["ml"]["available"] and served["viral_probability"] is not None
    assert served["suggestions"] == {
        "available": False,
        "reason": "failed: ZeroDivisionError",
        "model_version": "5",
        "viral_probability": None,
        "best_posting_hour": None,
        "changes": [],
        "candidates_scored": 0,
    }
    (event,) = [e for e in sentry_events.events() if e.get("tags", {}).get("stage") == "what_if"]
    assert "a candidate nobody foresaw" in str(event["exception"])
