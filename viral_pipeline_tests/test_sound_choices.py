"""Fuzzy search over trending sound names: one query (shortlist) and many (cdist blocks) agree."""

from __future__ import annotations

from rapidfuzz import fuzz

from viral_pipeline.engine.signals import sound_choices
from viral_pipeline.engine.signals.sound_choices import NOT_FOUND, SoundChoices

TEXTS = [
    "midnight city",
    "city midnight lights",
    "golden river",
    "golden rivers",
    "golden rover",
    "echo",
]


def test_many_queries_get_what_one_full_scan_gives(monkeypatch):
    monkeypatch.setattr(
        sound_choices, "BLOCK", 2
    )  # several blocks, each with its own length window
    queries = [
        "midnite city",
        "city midnight",
        "golden rivr",
        "golden rivers",
        "ecco",
        "nothing alike at all",
        "",
        "golden rivr",
        "lights city midnight",
    ]
    expected = [SoundChoices(TEXTS).best(q, 80.0, full_scan=True) for q in queries]
    assert SoundChoices(TEXTS).best_many(queries, 80.0) == expected
    assert expected[1] == (
        0,
        fuzz.token_sort_ratio("city midnight", "midnight city"),
    )  # by sorted words
    assert expected[3] == (3, 100.0) and expected[5] == NOT_FOUND and expected[6] == NOT_FOUND
    assert expected[8] == (1, 100.0)  # word order does not matter


def test_between_equal_similarities_the_earlier_choice_wins():
    choices = SoundChoices(["abcd", "abce", "abcf"])
    assert fuzz.ratio("abcx", "abcd") == fuzz.ratio("abcx", "abcf") == 75.0
    assert (
        choices.best_many(["abcx"], 70.0)
        == [(0, 75.0)]
        == [choices.best("abcx", 70.0, full_scan=True)]
    )
    # "a bb" is as close to "a b" as written (index 1) as to "b a" by sorted words (index 0): the
    # tie between the two scorers also goes to the earlier choice.
    reordered = SoundChoices(["b a", "a b"])
    assert reordered.best_many(["a b"], 50.0) == [
        (1, 100.0)
    ]  # the exact text, not the earlier choice
    assert (
        reordered.best_many(["a bb"], 50.0)
        == [reordered.best("a bb", 50.0, full_scan=True)]
        == [(0, 85.71428571428572)]
    )


def test_a_query_no_choice_length_can_match_is_not_scored():
    choices = SoundChoices(["ab", "abc"])
    long_query = "x" * 40  # ratio <= 200 * 3 / 43 < 85: outside every choice's length window
    assert choices.best_many([long_query], 85.0) == [NOT_FOUND]
    assert choices.best(long_query, 85.0, full_scan=True) == NOT_FOUND


def test_both_paths_share_one_memo(monkeypatch):
    choices = SoundChoices(TEXTS)
    assert choices.best_many(["golden rivr"], 80.0) == [
        (2, fuzz.ratio("golden rivr", "golden river"))
    ]
    choices._memo[("golden rivr", 80.0)] = (4, 81.0)  # planted: the one-query path must read it
    assert choices.best("golden rivr", 80.0) == (4, 81.0)
    assert choices.best_many(["golden rivr"], 80.0) == [(4, 81.0)]
    monkeypatch.setattr(sound_choices, "CACHE_SIZE", 2)
    choices.best_many(["midnite city", "ecco", "golden rover x", "city midnite"], 80.0)
    assert len(choices._memo) <= 2
