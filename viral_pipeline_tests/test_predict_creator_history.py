"""A predict run scores the request with its creator's history and the recent uses of its
hashtags, as the training rows have them, and its hook in the word bag."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import dagster as dg
import numpy as np
import pytest

from viral_pipeline.definitions import defs as load_defs
from viral_pipeline.engine.inputs.request import feature_row, normalize, validate_stored
from viral_pipeline.engine.model.content import tokens, topic_tags, use_figures
from viral_pipeline.engine.model.creator_history import history_of
from viral_pipeline.engine.model.feature_row import FEATURE_COLUMNS, feature_vector
from viral_pipeline.ml.published import PublishedChampion
from viral_pipeline.settings import get_settings
from viral_pipeline.store.content_uses import recent_tag_uses
from viral_pipeline.store.creator_history import prior_videos
from viral_pipeline.store.db import ready_engine
from viral_pipeline.store.predictions import create_request, get_request
from viral_pipeline.store.videos import ingest_items
from viral_pipeline_tests.factories import make_item

POSTED = datetime(2026, 11, 28, 16, 30, tzinfo=UTC)
REQUEST = {
    "caption": "the 10-minute pasta #food #fyp",
    "hook": "Nobody tells you this about pasta water",
    "duration_s": 24,
    "posted_at": POSTED.isoformat(),
    "creator": {"handle": "@Chef", "followers": 25000, "verified": False},
}


def _predict(defs, engine) -> tuple[dict, str]:
    request_id = create_request(engine, REQUEST)
    run = defs.resolve_job_def("predict").execute_in_process(
        run_config={"ops": {"normalize": {"config": {"request_id": request_id}}}},
        instance=dg.DagsterInstance.ephemeral(),
    )
    assert run.success
    return get_request(engine, request_id)["result"], request_id


def _history_items() -> list[dict]:
    """The chef's videos over the days before posting (big hits), among 30 others a day."""
    items = []
    for day in range(1, 8):
        start = POSTED - timedelta(days=day, hours=5)
        items.append(
            make_item(
                str(7_600_000_000_000_000_000 + day), posted=start, plays=10**8, handle="chef"
            )
        )
        items += [
            make_item(
                str(7_600_000_000_000_100_000 + 100 * day + k),
                posted=start + timedelta(minutes=k),
                plays=1_000 * (k + 1),
                author_id=str(6_900_000_000_000_000_000 + k),
                handle=f"someone{k}",
            )
            for k in range(30)
        ]
        for item in items[-30::2]:  # half of them about food
            item["hashtags"] = [{"name": "food"}, {"name": "fyp"}]
    # Posted after the request, with its hashtag: never part of its history or uses.
    items.append(
        make_item("7600000000000009999", posted=POSTED + timedelta(hours=1), plays=1, handle="chef")
    )
    items[-1]["hashtags"] = [{"name": "food"}]
    return items


def test_the_ml_signal_reads_the_creators_earlier_videos():
    defs = load_defs()
    engine = ready_engine(get_settings().database_url)
    instance = dg.DagsterInstance.ephemeral()
    assert defs.resolve_job_def("retrain_ml_job").execute_in_process(instance=instance).success
    without, _ = _predict(defs, engine)

    ingest_items(engine, _history_items(), source="test", batch="b", now=POSTED)
    served, request_id = _predict(defs, engine)
    history = history_of(
        prior_videos(engine, "chef", POSTED, window_days=1), POSTED, quantile=0.9, window_days=1
    )
    assert history["creator_prior_videos"] == 7 and history["creator_prior_viral_rate"] == 1.0
    stored = get_request(engine, request_id)
    request = normalize(validate_stored(stored["payload"]), now=stored["created_at"])
    tags = topic_tags(request.hashtags)
    uses = use_figures(recent_tag_uses(engine, tags, POSTED), tags)
    assert uses == {
        "hashtag_prior_videos_max": 90.0,  # 15 a day over the 6 days of the look-back
        "hashtag_prior_videos_mean_log": pytest.approx(np.log1p(90)),
    }
    champion = PublishedChampion(get_settings().model_name).get(engine)
    row = feature_row(request, 0.0) | history | uses
    expected = champion.probability(row)
    # The full served row: every feature column the champion reads, the word bag of caption,
    # hook and hashtags included (a champion published before a group existed reads fewer).
    vector = feature_vector(row)
    assert len(FEATURE_COLUMNS) == champion.model.n_features and not np.isnan(vector[-2:]).any()
    assert vector[list(FEATURE_COLUMNS).index("word_bucket_00") :][:-2].sum() == len(
        tokens(request.caption, request.hook, hashtags=request.hashtags)
    )
    assert served["probability_source"] == "champion_model"
    # The result rounds probabilities to 5 decimals.
    assert served["viral_probability"] == pytest.approx(expected, abs=5e-6)
    assert abs(served["viral_probability"] - without["viral_probability"]) > 1e-4
