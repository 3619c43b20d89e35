"""Fuzzy search over trending sound names: one query and many (cdist blocks) give the answer of a
brute-force scan of every choice."""

from __future__ import annotations

import random
import string

import pytest
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
CUTOFF = 85.0  # the product's (trends_match.SOUND_CUTOFF)


def brute_force(texts: list[str], query: str, cutoff: float) -> tuple[int, float]:
    """The rule, pair by pair: an exact text wins; else the highest max(ratio, token_sort_ratio)
    at or above the cutoff, the earlier (more trending) choice on a tie."""
    if not query:
        return NOT_FOUND
    if query in texts:
        return texts.index(query), 100.0
    found = NOT_FOUND
    for i, text in enumerate(texts):
        score = max(fuzz.ratio(query, text), fuzz.token_sort_ratio(query, text))
        if score >= cutoff and score > found[1]:
            found = (i, score)
    return found


_COMMON = (
    "love baby night dance party girl boy fire rain heart city lights river echo fever summer golden "
    "wild paper velvet midnight neon broken lonely electric dream sky moon sun star blue red black"
).split()


def _word(rng: random.Random) -> str:
    return "".join(rng.choice(string.ascii_lowercase) for _ in range(rng.randint(3, 9)))


def _typo(rng: random.Random, text: str) -> str:
    i = rng.randrange(len(text))
    return rng.choice(
        [
            text[:i] + text[i + 1 :],
            text[:i] + rng.choice(string.ascii_lowercase) + text[i + 1 :],
            text[:i] + text[i] + text[i:],
        ]
    )


# Misspelt titles of common song words only, in worlds (by seed) crowded with titles sharing those
# words. Each word's letter groups are in hundreds of titles, and a search that narrowed the
# choices by them missed these (nothing found, a lower score, or a later sound of the same score)
# where scoring every choice finds them.
CROWDED = {
    19: [
        "summer wld electric",
        "ummer party sky",
        "summmer ellectric",
        "partyxaby summer",
        "lights paper",
        "fie electric summer",
    ],
    35: [
        "minight midniglt",
        "velvet velvetboy",
        "eart velvet velveet",
        "midnighht rive midnight",
        "river lights",
        "red midight midnight",
        "sun midnight",
        "midnight sky midniight",
        "fever midnight",
        "river midnight",
        "lights fever",
    ],
}


@pytest.fixture(scope="module", params=sorted(CROWDED))
def crowded_world(request) -> tuple[list[str], list[str], list[str]]:
    """(2,000 titles, 60% of their words common ones; the crowded queries; 250 more queries)."""
    rng = random.Random(request.param)
    rare = [_word(rng) for _ in range(800)]

    def title(common_share: float = 0.6) -> str:
        return " ".join(
            rng.choice(_COMMON) if rng.random() < common_share else rng.choice(rare)
            for _ in range(rng.choice((1, 1, 2, 3, 4)))
        )

    texts = [title() for _ in range(2000)]
    queries = []
    for _ in range(50):
        text = rng.choice(texts)
        queries.append(_typo(rng, text))
        queries.append(_typo(rng, _typo(rng, text)))
        queries.append(" ".join(reversed(_typo(rng, text).split())))
        queries.append(" ".join(_typo(rng, title(1.0)).split()))  # common words only
        queries.append(title())  # most match nothing
    return texts, CROWDED[request.param], queries


def test_one_query_gets_the_brute_force_answer(crowded_world):
    texts, crowded, queries = crowded_world
    choices = SoundChoices(texts)
    expected = [brute_force(texts, query, CUTOFF) for query in crowded + queries]
    assert [choices.best(query, CUTOFF) for query in crowded + queries] == expected
    assert all(index >= 0 for index, _ in expected[: len(crowded)])
    assert sum(index >= 0 for index, _ in expected) > 100  # typos and word orders match


def test_many_queries_get_the_one_query_answers(crowded_world, monkeypatch):
    monkeypatch.setattr(sound_choices, "BLOCK", 37)  # many blocks, each with its own length window
    texts, crowded, queries = crowded_world
    queries = [*crowded, *queries, "", queries[0], texts[7]]  # empty, repeated, exact
    single = [SoundChoices(texts).best(query, CUTOFF) for query in queries]
    assert SoundChoices(texts).best_many(queries, CUTOFF) == single


def test_small_sets_word_order_and_length(monkeypatch):
    monkeypatch.setattr(sound_choices, "BLOCK", 2)
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
    expected = [brute_force(TEXTS, q, 80.0) for q in queries]
    assert [SoundChoices(TEXTS).best(q, 80.0) for q in queries] == expected
    assert SoundChoices(TEXTS).best_many(queries, 80.0) == expected
    assert expected[1] == (0, fuzz.token_sort_ratio("city midnight", "midnight city"))
    assert expected[3] == (3, 100.0) and expected[5] == NOT_FOUND and expected[6] == NOT_FOUND
    assert expected[8] == (1, 100.0)  # word order does not matter


def test_between_equal_similarities_the_earlier_choice_wins():
    choices = SoundChoices(["abcd", "abce", "abcf"])
    assert fuzz.ratio("abcx", "abcd") == fuzz.ratio("abcx", "abcf") == 75.0
    assert choices.best_many(["abcx"], 70.0) == [(0, 75.0)] == [choices.best("abcx", 70.0)]
    # "a bb" is as close to "a b" as written (index 1) as to "b a" by sorted words (index 0): the
    # tie between the two scorers also goes to the earlier choice.
    reordered = SoundChoices(["b a", "a b"])
    assert reordered.best_many(["a b"], 50.0) == [(1, 100.0)]  # the exact text, not the earlier
    assert (
        reordered.best_many(["a bb"], 50.0)
        == [reordered.best("a bb", 50.0)]
        == [(0, 85.71428571428572)]
    )


def test_a_query_no_choice_length_can_match_finds_nothing():
    choices = SoundChoices(["ab", "abc"])
    long_query = "x" * 40  # ratio <= 200 * 3 / 43 < 85: outside every choice's length window
    assert choices.best_many([long_query], 85.0) == [NOT_FOUND]
    assert choices.best(long_query, 85.0) == NOT_FOUND


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
    choices.best("golden rovr", 80.0)
    assert len(choices._memo) <= 2
