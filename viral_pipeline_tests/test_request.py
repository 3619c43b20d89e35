"""The analyze request: validation names the field, normalisation, and the model's raw columns."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone

import numpy as np
import pandas as pd
import pytest
from pydantic import ValidationError

from viral_pipeline.engine.inputs.request import (
    AnalyzeRequest,
    NormalizedRequest,
    feature_row,
    merge_hashtags,
    normalize,
)
from viral_pipeline.engine.model.features import RAW_COLUMNS, build_features

NOW = datetime(2026, 11, 20, 12, 30, tzinfo=UTC)


def _body(**overrides) -> dict:
    body = {"caption": "Morning routine #GRWM", "duration_s": 21}
    body.update(overrides)
    return body


def _error_fields(body: dict) -> set[str]:
    with pytest.raises(ValidationError) as caught:
        AnalyzeRequest.model_validate(body)
    return {".".join(str(part) for part in error["loc"]) for error in caught.value.errors()}


@pytest.mark.parametrize(
    ("body", "field"),
    [
        (_body(caption=""), "caption"),
        (_body(caption="   \n\t"), "caption"),
        (_body(caption="x" * 2201), "caption"),
        (_body(hashtags=[f"t{i}" for i in range(31)]), "hashtags"),
        (_body(hashtags=["ok", "#"]), "hashtags.1"),
        (_body(hashtags=["x" * 101]), "hashtags.0"),
        (_body(hashtags=["two words"]), "hashtags.0"),
        (_body(duration_s=0), "duration_s"),
        (_body(duration_s=601), "duration_s"),
        (_body(duration_s=12.5), "duration_s"),
        (_body(posted_at="next tuesday"), "posted_at"),
        (_body(posted_at="2026-13-01T00:00:00"), "posted_at"),
        (_body(posted_at="0001-01-01T00:00:00"), "posted_at"),
        (_body(posted_at="2100-01-01T00:00:00Z"), "posted_at"),
        (_body(surprise=1), "surprise"),
        (_body(sound={"name": "x", "bpm": 120}), "sound.bpm"),
        (_body(sound={"id": "12ab"}), "sound.id"),
        (_body(sound={"id": "1" * 33}), "sound.id"),
        (_body(sound={"name": "n" * 201}), "sound.name"),
        (_body(creator={"followers": -1}), "creator.followers"),
        (_body(creator={"followers": 2_000_000_001}), "creator.followers"),
        (_body(creator={"handle": "@" + "h" * 65}), "creator.handle"),
        (_body(hook="h" * 2201), "hook"),
        ({"duration_s": 10}, "caption"),
    ],
)
def test_validation_errors_name_the_field(body, field):
    assert field in _error_fields(body)


def test_limits_are_inclusive():
    request = AnalyzeRequest.model_validate(
        _body(
            caption="c" * 2200,
            hashtags=[f"t{i}" for i in range(30)],
            duration_s=600,
            creator={"handle": "@" + "h" * 64, "followers": 2_000_000_000},
            sound={"id": "1" * 32},
        )
    )
    assert request.duration_s == 600 and len(request.hashtags) == 30
    assert request.creator is not None and request.creator.handle == "h" * 64
    assert AnalyzeRequest.model_validate(_body(duration_s=1)).duration_s == 1


def test_normalize_merges_caption_hashtags_lowercase_in_order():
    request = AnalyzeRequest.model_validate(
        _body(
            caption="New drop #Fashion #OOTD and #fyp #fashion", hashtags=["#FYP", "style", "fyp"]
        )
    )
    assert request.hashtags == ["FYP", "style", "fyp"]
    req = normalize(request, now=NOW)
    assert req.hashtags == ["fyp", "style", "fashion", "ootd"]
    assert merge_hashtags([], "no tags here") == []


def test_naive_posted_at_is_utc_and_offsets_are_converted():
    naive = normalize(AnalyzeRequest.model_validate(_body(posted_at="2026-11-20T15:00:00")))
    assert (
        naive.posted_at == datetime(2026, 11, 20, 15, tzinfo=UTC) and naive.posted_at.tzinfo is UTC
    )
    offset = normalize(AnalyzeRequest.model_validate(_body(posted_at="2026-11-20T15:00:00+02:00")))
    assert (
        offset.posted_at == datetime(2026, 11, 20, 13, tzinfo=UTC)
        and offset.posted_at.tzinfo is UTC
    )


def test_missing_posted_at_is_now():
    request = AnalyzeRequest.model_validate(_body())
    assert request.posted_at is None
    assert AnalyzeRequest.model_validate(_body(posted_at=None)).posted_at is None
    assert normalize(request, now=NOW).posted_at == NOW
    local = datetime(2026, 11, 20, 14, 30, tzinfo=timezone(timedelta(hours=2)))
    assert normalize(request, now=local).posted_at == NOW
    assert (
        normalize(request, now=datetime(2026, 11, 20, 12, 30)).posted_at == NOW
    )  # naive "now": UTC
    before = datetime.now(UTC)
    assert before <= normalize(request).posted_at <= datetime.now(UTC)


def test_normalize_sound_creator_and_blanks():
    request = AnalyzeRequest.model_validate(
        _body(
            sound={
                "name": "  Espresso ",
                "author": " ",
                "id": "7234567890123456789",
                "original": False,
            },
            creator={"handle": "@ someone", "followers": 1200, "verified": True},
            hook="  ",
        )
    )
    req = normalize(request, now=NOW)
    assert (req.sound_name, req.sound_author, req.sound_id, req.sound_original) == (
        "Espresso",
        None,
        "7234567890123456789",
        False,
    )
    assert (req.creator_handle, req.followers, req.verified) == ("someone", 1200, True)
    assert req.hook is None and req.has_sound
    nulls = AnalyzeRequest.model_validate(
        _body(sound={"name": None, "author": None}, creator={"handle": None})
    )
    assert nulls.sound is not None and nulls.sound.name is None and nulls.creator.handle is None
    bare = normalize(AnalyzeRequest.model_validate(_body(creator={"handle": "@"})), now=NOW)
    assert bare.creator_handle is None and bare.followers is None and bare.verified is None
    assert not bare.has_sound and bare.sound_name is None


def test_sound_id_must_be_a_string():
    # A 19-digit id as a JSON number has already lost precision: refused, not rounded.
    assert "sound.id" in _error_fields(_body(sound={"id": 7234567890123456789}))


def test_feature_row_has_the_raw_columns_and_builds_features():
    request = AnalyzeRequest.model_validate(
        _body(
            hashtags=["fyp"],
            sound={"name": "Espresso"},
            posted_at="2026-11-20T16:30:00",
            creator={"followers": 50_000, "verified": False},
        )
    )
    req = normalize(request, now=NOW)
    row = feature_row(req, 0.75)
    assert tuple(row) == (*RAW_COLUMNS, "hook")
    assert (
        row["sound_original"] is False
    )  # a sound of unknown originality: not original, as in training
    assert row["is_slideshow"] is False and row["hashtags"] == ["fyp", "grwm"]
    features = build_features(pd.DataFrame([row])).iloc[0]
    assert features["has_sound"] == 1.0 and features["sound_trend_score"] == 0.75
    assert (
        features["hashtag_count"] == 2.0
        and features["hour"] == 16.0
        and features["duration_s"] == 21.0
    )
    assert features["follower_tier"] == 2.0 and features["verified"] == 0.0


def test_feature_row_keeps_unknowns_unknown():
    req = normalize(AnalyzeRequest.model_validate(_body()), now=NOW)
    row = feature_row(req, 0)
    assert row["sound_original"] is None and row["followers"] is None and row["verified"] is None
    features = build_features(pd.DataFrame([row])).iloc[0]
    assert features["has_sound"] == 0.0
    assert np.isnan(features["log_followers"]) and np.isnan(features["verified"])
    original = normalize(AnalyzeRequest.model_validate(_body(sound={"original": True})), now=NOW)
    assert feature_row(original, 0.0)["sound_original"] is True


def test_normalized_request_is_frozen():
    req = normalize(AnalyzeRequest.model_validate(_body()), now=NOW)
    assert isinstance(req, NormalizedRequest)
    with pytest.raises(AttributeError):
        req.caption = "changed"  # type: ignore[misc]


@pytest.mark.parametrize(
    "body,field",
    [
        (_body(duration_s="24"), "duration_s"),
        (_body(duration_s=True), "duration_s"),
        (_body(duration_s=24.0), "duration_s"),
        (_body(creator={"verified": 0}), "creator.verified"),
        (_body(creator={"verified": "true"}), "creator.verified"),
        (_body(creator={"handle": "chef/../x"}), "creator.handle"),
        (_body(creator={"handle": "@chef name"}), "creator.handle"),
        (_body(creator={"handle": "chef\u200b"}), "creator.handle"),
    ],
)
def test_strict_fields_and_the_handle_rule_refuse_lookalikes(body, field):
    """Over JSON, as the API reads it: no coercion of a duration or a badge, and the handle rule
    of PATCH /api/profile."""
    with pytest.raises(ValidationError) as raised:
        AnalyzeRequest.model_validate_json(json.dumps(body))
    assert field in {".".join(str(p) for p in error["loc"]) for error in raised.value.errors()}


def test_the_analyze_handle_is_the_profile_handle():
    from viral_pipeline.engine.inputs.handles import normalize_handle

    for raw in ["@Chef.Food_1", " chef ", "@" + "h" * 64]:
        request = AnalyzeRequest.model_validate_json(json.dumps(_body(creator={"handle": raw})))
        assert request.creator is not None and request.creator.handle == normalize_handle(raw)


def test_a_stored_request_keeps_a_handle_from_before_the_rule():
    from viral_pipeline.engine.inputs.request import validate_stored

    legacy = _body(creator={"handle": "@chef name"})
    assert "creator.handle" in _error_fields(legacy)  # refused at the door today
    stored = validate_stored(legacy)
    assert stored.creator is not None and stored.creator.handle == "chef name"
    assert validate_stored(_body(creator={"handle": "@Chef"})).creator.handle == "Chef"
