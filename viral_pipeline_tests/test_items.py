"""Parsing real scraper output (every file in ../shared/data/apify) and each kind of bad row."""

import copy
import json
from datetime import UTC, datetime

import pytest

from viral_pipeline.engine.inputs.items import Rejection, VideoRecord, parse_item


def _load(shared_apify_dir, name):
    data = json.loads((shared_apify_dir / name).read_text())
    return data if isinstance(data, list) else [data]


@pytest.fixture
def current_item(shared_apify_dir):
    return _load(shared_apify_dir, "clockworks_item.json")[0]


def test_current_format_item_parses_with_string_ids(current_item):
    record = parse_item(current_item)
    assert isinstance(record, VideoRecord)
    assert record.video_id == "7505706702050823446"
    assert record.author_id == "7424447537598055456"
    assert record.music_id == "7505706686134242070"
    assert record.source_format == "clockworks"
    assert record.author_followers == 2002
    assert record.hashtags == ["chatgpt", "agent", "prompt", "instruction"]
    assert record.posted_at == datetime(2025, 5, 18, 8, 55, 28, tzinfo=UTC)
    assert (record.play_count, record.like_count, record.share_count) == (53000, 1916, 302)
    assert record.duration_s == 97 and not record.is_slideshow


def test_error_rows_are_rejected_with_the_scrapers_reason(shared_apify_dir):
    results = [parse_item(row) for row in _load(shared_apify_dir, "clockworks_error_rows.json")]
    assert len(results) == 3
    assert all(isinstance(r, Rejection) for r in results)
    assert all("This profile/hashtag does not exist." in r.reason for r in results)


def test_older_format_items_load_without_follower_counts(shared_apify_dir):
    records = [parse_item(row) for row in _load(shared_apify_dir, "legacy_items.json")]
    assert all(isinstance(r, VideoRecord) for r in records)
    assert {r.source_format for r in records} == {"legacy"}
    assert records[0].author_followers == 24_100_000  # this older sample does carry fans
    assert records[1].hashtags == ["capcut"]


def test_all_1000_real_trending_videos_load(shared_apify_dir):
    rows = _load(shared_apify_dir, "legacy_trending_1000.json")
    records = [parse_item(row) for row in rows]
    assert len(records) == 1000
    assert all(isinstance(r, VideoRecord) for r in records)
    # In trending mode authorMeta has no fans: the count is unknown, not zero.
    assert all(r.author_followers is None for r in records)
    assert len({r.video_id for r in records}) == 1000
    assert all(r.video_id.isdigit() for r in records)


def test_slideshow_keeps_zero_duration_and_has_no_sound(current_item):
    item = copy.deepcopy(current_item)
    item["isSlideshow"] = True
    item["videoMeta"] = {"height": 0, "width": 0, "duration": 0}
    item["musicMeta"] = {"musicName": "original sound", "musicOriginal": True, "musicId": "0"}
    record = parse_item(item)
    assert isinstance(record, VideoRecord)
    assert record.is_slideshow and record.duration_s == 0
    assert record.music_id is None and record.music_original is None


@pytest.mark.parametrize(
    ("mutate", "reason"),
    [
        (lambda i: i.pop("id"), "id"),
        (lambda i: i.update(id=7.505706702050823e18), "lost precision"),
        (lambda i: i.update(id="  "), "id is empty"),
        (lambda i: i.update(id="abc123"), "string of digits"),
        (lambda i: i.update(playCount=None), "playCount"),
        (lambda i: i.pop("playCount"), "playCount"),
        (lambda i: i.update(diggCount=-5), "diggCount"),
        (lambda i: i.update(shareCount="lots"), "shareCount"),
        (lambda i: i.update(createTime=1), "createTime"),
        (lambda i: i.pop("authorMeta"), "authorMeta"),
        (lambda i: i["authorMeta"].pop("id"), "authorMeta.id"),
        (lambda i: i.update(videoMeta={"duration": 0}, isSlideshow=False), "zero duration"),
    ],
)
def test_bad_rows_are_rejected_with_a_reason_naming_the_problem(current_item, mutate, reason):
    item = copy.deepcopy(current_item)
    mutate(item)
    result = parse_item(item)
    assert isinstance(result, Rejection)
    assert reason in result.reason
    assert result.raw is item


def test_non_object_items_are_rejected():
    for raw in (None, "text", 42, ["a"]):
        result = parse_item(raw)
        assert isinstance(result, Rejection) and "not a JSON object" in result.reason


def test_integer_ids_become_exact_strings(current_item):
    item = copy.deepcopy(current_item)
    item["id"] = 7505706702050823446  # larger than 2**53: a float would round it
    record = parse_item(item)
    assert isinstance(record, VideoRecord) and record.video_id == "7505706702050823446"


def test_missing_optional_fields_are_stored_as_unknown(current_item):
    item = copy.deepcopy(current_item)
    for key in ("text", "hashtags", "collectCount", "webVideoUrl", "musicMeta", "createTimeISO"):
        item.pop(key)
    item["authorMeta"].pop("fans")
    item["authorMeta"].pop("verified")
    record = parse_item(item)
    assert isinstance(record, VideoRecord)
    assert record.caption == "" and record.hashtags == []
    assert record.author_followers is None and record.author_verified is None
    assert record.music_id is None and record.collect_count is None


def test_hashtags_fall_back_to_the_caption_and_are_deduplicated(current_item):
    item = copy.deepcopy(current_item)
    item["hashtags"] = []
    item["text"] = "Look #FYP #viral #fyp"
    record = parse_item(item)
    assert record.hashtags == ["fyp", "viral"]
