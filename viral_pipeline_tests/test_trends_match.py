"""Trend matching: sounds by id, name and fuzzily; hashtags; the trends score; one request and a
batch agree."""

from __future__ import annotations

import dataclasses
import random
import string
from datetime import UTC, date, datetime

import pytest

from viral_pipeline.engine.inputs.request import NormalizedRequest
from viral_pipeline.engine.signals import sound_choices
from viral_pipeline.engine.signals import trends_match as tm
from viral_pipeline.engine.signals.trends_match import (
    TrendingSound,
    TrendSnapshot,
    is_generic_original,
    match_sound,
    match_sounds,
    normalise_text,
    score_trends,
    score_trends_many,
    sound_trend_score,
)

ESPRESSO = TrendingSound("7300000000000000001", "Espresso", "Sabrina Carpenter", 0.95)
APT = TrendingSound("7300000000000000002", "APT.", "ROSÉ & Bruno Mars", 0.90)
SMILE = TrendingSound(
    "7300000000000000003", "Die With A Smile (feat. Bruno Mars)", "Lady Gaga", 0.80
)
LOVE = TrendingSound("7300000000000000004", "Love Story", "Taylor Swift", 0.50)
NO_AUTHOR = TrendingSound("7300000000000000005", "Midnight Velvet Drive", None, 0.40)
SNAPSHOT = TrendSnapshot(
    day=date(2026, 11, 20),
    sounds=(LOVE, ESPRESSO, APT, SMILE, NO_AUTHOR),
    hashtags={"fyp": 0.62, "foryou": 0.30, "dance": 0.08, "coffee": 0.02, "#GRWM": 0.01},
)


def _req(name=None, author=None, music_id=None, original=None, hashtags=()) -> NormalizedRequest:
    return NormalizedRequest(
        caption="caption",
        hook=None,
        hashtags=list(hashtags),
        sound_name=name,
        sound_author=author,
        sound_id=music_id,
        sound_original=original,
        duration_s=20,
        posted_at=datetime(2026, 11, 20, 15, tzinfo=UTC),
        creator_handle=None,
        followers=None,
        verified=None,
    )


def test_exact_id_match_first():
    # The id wins even over a name that points elsewhere.
    assert match_sound(_req(name="Love Story", music_id=ESPRESSO.music_id), SNAPSHOT) == (
        ESPRESSO,
        100.0,
    )
    # An original sound with a trending id is trending.
    assert match_sound(_req(music_id=APT.music_id, original=True), SNAPSHOT) == (APT, 100.0)


def test_an_unknown_id_falls_back_to_the_name():
    assert match_sound(_req(name="Espresso", music_id="1"), SNAPSHOT) == (ESPRESSO, 100.0)
    assert match_sound(_req(name="!!!"), SNAPSHOT) == (None, 0.0)  # nothing left after normalising


def test_exact_name_after_normalising():
    assert match_sound(_req(name="  espresso!! "), SNAPSHOT) == (ESPRESSO, 100.0)
    assert match_sound(_req(name="apt", author="Rosé & Bruno Mars"), SNAPSHOT) == (APT, 100.0)
    # A "feat." tail on either side is dropped.
    assert match_sound(_req(name="Die With A Smile", author="Lady Gaga"), SNAPSHOT) == (
        SMILE,
        100.0,
    )
    assert match_sound(_req(name="Espresso (feat. Someone)"), SNAPSHOT) == (ESPRESSO, 100.0)


def test_fuzzy_name_with_a_typo():
    sound, similarity = match_sound(_req(name="Espreso"), SNAPSHOT)
    assert sound == ESPRESSO and 85 <= similarity < 100
    sound, similarity = match_sound(_req(name="Espreso", author="Sabrina Carpentr"), SNAPSHOT)
    assert sound == ESPRESSO and similarity > 90


def test_word_order_does_not_matter():
    sound, similarity = match_sound(_req(name="Story Love", author="Swift Taylor"), SNAPSHOT)
    assert sound == LOVE and similarity == 100.0


def test_no_match_below_the_cutoff():
    assert match_sound(_req(name="Espr"), SNAPSHOT) == (None, 0.0)
    assert match_sound(_req(name="Completely Different"), SNAPSHOT) == (None, 0.0)
    # Sharing one word is not a match ("Love" is not "Love Story"), nor is a different artist.
    assert match_sound(_req(name="Love"), SNAPSHOT) == (None, 0.0)
    assert match_sound(_req(name="Espresso", author="Some Indie Band"), SNAPSHOT) == (None, 0.0)
    # The cutoff is the caller's to set.
    assert match_sound(_req(name="Espreso"), SNAPSHOT, cutoff=95) == (None, 0.0)
    assert match_sound(_req(name="Espr"), SNAPSHOT, cutoff=50)[0] == ESPRESSO


def test_author_given_falls_back_to_sounds_without_an_author():
    # "midnight velvet drive somebody else entirely" is far from "midnight velvet drive" as a
    # whole; the name alone, compared with the sounds whose author is unknown, matches.
    sound, similarity = match_sound(
        _req(name="Midnight Velvet Drive", author="Somebody Else Entirely"), SNAPSHOT
    )
    assert sound == NO_AUTHOR and similarity == 100.0
    assert match_sound(_req(name="Midnight Velvet", author="Somebody Else Entirely"), SNAPSHOT) == (
        None,
        0.0,
    )
    # A trending sound with an author is not matched by its name under another author.
    assert match_sound(_req(name="Love Story", author="Somebody Else Entirely"), SNAPSHOT) == (
        None,
        0.0,
    )


def test_original_sounds_match_only_by_id():
    assert match_sound(_req(name="Espresso", original=True), SNAPSHOT) == (None, 0.0)
    generic = TrendSnapshot(
        day=None, sounds=(TrendingSound("1", "original sound - bob", None, 0.9),)
    )
    assert match_sound(_req(name="original sound - bob"), generic) == (None, 0.0)
    assert match_sound(_req(name="Original Sound - alice", music_id="1"), generic)[1] == 100.0
    assert is_generic_original("sonido original - ana") and is_generic_original("Originalton")
    assert is_generic_original("オリジナル楽曲 - 誰か") and is_generic_original("original sound")
    assert not is_generic_original("Original Gangster") and not is_generic_original(None)
    assert match_sound(_req(), SNAPSHOT) == (None, 0.0)


def test_normalise_text():
    assert normalise_text("  Die With A Smile (feat. Bruno Mars) ") == "die with a smile"
    assert normalise_text("Song ft. X - Remix") == "song"
    assert normalise_text("Left Feat") == "left"
    assert (
        normalise_text("APT.") == "apt" and normalise_text(None) == "" and normalise_text("") == ""
    )


def test_ties_go_to_the_more_trending_sound():
    low = TrendingSound("10", "Neon Lights", "A B", 0.2)
    high = TrendingSound("11", "Neon Lights", "C D", 0.7)
    snapshot = TrendSnapshot(day=None, sounds=(low, high))
    assert match_sound(_req(name="neon lights"), snapshot)[0] == high
    assert match_sound(_req(name="neon light"), snapshot)[0] == high


def test_sound_trend_score():
    assert sound_trend_score(_req(name="Espresso"), SNAPSHOT) == 0.95
    assert sound_trend_score(_req(name="Nothing Like It"), SNAPSHOT) == 0.0
    assert sound_trend_score(_req(), SNAPSHOT) == 0.0


def test_hashtag_popularity_exact_and_fuzzy():
    # Percentile by share among 5 tags: fyp 1.0, foryou 0.8, dance 0.6, coffee 0.4, grwm 0.2.
    assert SNAPSHOT.hashtag_popularity("fyp") == ("fyp", 1.0)
    assert SNAPSHOT.hashtag_popularity("grwm") == ("grwm", pytest.approx(0.2))
    assert SNAPSHOT.hashtag_popularity("fypシ") == ("fyp", 1.0)
    assert (
        SNAPSHOT.hashtag_popularity("foryuo")[0] is None
    )  # a swap is two edits on 6 letters: too far
    assert SNAPSHOT.hashtag_popularity("dancee") == ("dance", pytest.approx(0.6))
    assert SNAPSHOT.hashtag_popularity("coffe") == ("coffee", pytest.approx(0.4))
    assert (
        SNAPSHOT.hashtag_popularity("danse")[0] is None
    )  # one substitution on 5 letters: ratio 80
    assert SNAPSHOT.hashtag_popularity("fy") == (None, 0.0)  # too short to guess
    assert SNAPSHOT.hashtag_popularity("cooking") == (None, 0.0)
    assert SNAPSHOT.hashtag_popularity("fypシ") == ("fyp", 1.0)  # memoised answer


def test_tied_shares_score_alike():
    snapshot = TrendSnapshot(
        day=None, sounds=(ESPRESSO,), hashtags={"a1": 0.5, "#B2": 0.5, "c3": 0.1, "#": 0.9}
    )
    assert snapshot.hashtag_popularity("a1")[1] == snapshot.hashtag_popularity("b2")[1] == 1.0
    assert snapshot.hashtag_popularity("c3")[1] == pytest.approx(1 / 3)


def test_score_trends_combines_sound_and_top_three_hashtags():
    req = _req(name="Espresso", hashtags=["fyp", "fypシ", "dance", "coffee", "grwm", "unknown"])
    signal = score_trends(req, SNAPSHOT)
    # sound 0.95; hashtags: fyp 1.0 (fypシ is fyp again, counted once), dance 0.6, coffee 0.4.
    assert signal.name == "trends" and signal.available
    assert signal.score == pytest.approx(100 * (0.6 * 0.95 + 0.4 * (1.0 + 0.6 + 0.4) / 3), abs=0.01)
    assert signal.reason.startswith("sound 'Espresso' trend 0.95 (similarity 100); ")
    assert "4 of 6 hashtags trending: #fyp 1.00, #dance 0.60, #coffee 0.40" in signal.reason


def test_score_trends_reasons():
    by_id = score_trends(_req(music_id=APT.music_id, hashtags=["fypシ"]), SNAPSHOT)
    assert "(same id)" in by_id.reason and "#fypシ~#fyp 1.00" in by_id.reason
    fuzzy = score_trends(_req(name="Espreso"), SNAPSHOT)
    assert "(similarity 93)" in fuzzy.reason and fuzzy.reason.endswith("0 of 0 hashtags trending")


def test_no_sound_or_an_original_sound_only_misses_the_lift():
    tags = ["fyp", "dance"]
    none = score_trends(_req(hashtags=tags), SNAPSHOT)
    original = score_trends(
        _req(name="original sound - me", original=True, hashtags=tags), SNAPSHOT
    )
    unknown = score_trends(_req(name="Unheard Song", hashtags=tags), SNAPSHOT)
    assert (
        none.score
        == original.score
        == unknown.score
        == pytest.approx(40 * (1.0 + 0.6) / 3, abs=0.01)
    )
    assert none.reason.startswith("no sound;")
    assert original.reason.startswith("original sound, not trending;")
    assert unknown.reason.startswith("sound not trending;")
    assert score_trends(_req(name="Espresso", hashtags=tags), SNAPSHOT).score > none.score


def test_empty_snapshot_is_unavailable():
    for empty in (
        TrendSnapshot.empty(),
        TrendSnapshot(day=date(2026, 11, 20), sounds=(), hashtags={"fyp": 0.5}),
    ):
        signal = score_trends(_req(name="Espresso", hashtags=["fyp"]), empty)
        assert not signal.available and signal.score is None
        assert signal.reason == "no trending_sounds yet"
    assert TrendSnapshot.empty().is_empty and not SNAPSHOT.is_empty


# ---- one request against a batch, on a large snapshot ---------------------------------

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


@pytest.fixture(scope="module")
def big_world():
    rng = random.Random(11)
    rare = [_word(rng) for _ in range(800)]

    def title() -> str:
        return " ".join(
            rng.choice(_COMMON) if rng.random() < 0.6 else rng.choice(rare)
            for _ in range(rng.choice((1, 1, 2, 3, 4)))
        )

    sounds = tuple(
        TrendingSound(str(i), title(), f"{_word(rng)} {_word(rng)}", 1 - i / 2000)
        for i in range(2000)
    )
    queries = []
    for _ in range(300):
        s = rng.choice(sounds)
        queries.append(_req(name=_typo(rng, s.name)))
        queries.append(_req(name=_typo(rng, s.name), author=s.author))
        queries.append(
            _req(name=" ".join(reversed(s.name.split())), author=_typo(rng, s.author or "x"))
        )
        queries.append(_req(name=title(), author=f"{_word(rng)} {_word(rng)}"))
        queries.append(_req(name=title()))
    return TrendSnapshot(day=None, sounds=sounds), queries


def test_memo_starts_over_when_full(big_world, monkeypatch):
    snapshot, queries = big_world
    monkeypatch.setattr(sound_choices, "CACHE_SIZE", 3)
    fresh = TrendSnapshot(day=None, sounds=snapshot.sounds, hashtags={"fyp": 0.5, "dance": 0.1})
    answers = [match_sound(req, fresh) for req in queries[:20]]
    assert len(fresh._names._memo) <= 3 and len(fresh._full._memo) <= 3
    assert [match_sound(req, fresh) for req in queries[:20]] == answers
    for tag in ("fypp", "dancce", "zzz", "qqq"):
        fresh.hashtag_popularity(tag)
    assert len(fresh._tags._memo) <= 3


def test_snapshot_pickles_as_its_data():
    import pickle

    data = pickle.dumps(SNAPSHOT)
    again = pickle.loads(data)
    assert (
        again.day == SNAPSHOT.day
        and again.sounds == SNAPSHOT.sounds
        and again.hashtags == SNAPSHOT.hashtags
    )
    assert match_sound(_req(name="Espreso"), again) == match_sound(_req(name="Espreso"), SNAPSHOT)
    assert (
        b"SoundChoices" not in data and b"sound_choices" not in data
    )  # the indexes are rebuilt, not shipped


def test_snapshot_equality_is_identity():
    again = dataclasses.replace(SNAPSHOT)
    assert again is not SNAPSHOT and again != SNAPSHOT and SNAPSHOT == SNAPSHOT
    assert again.sounds == SNAPSHOT.sounds


def _fresh(snapshot: TrendSnapshot) -> TrendSnapshot:
    """The same data with empty memos, so every answer is computed afresh."""
    return TrendSnapshot(day=snapshot.day, sounds=snapshot.sounds, hashtags=dict(snapshot.hashtags))


def test_batch_matching_gives_the_per_request_answer(big_world, monkeypatch):
    snapshot, queries = big_world
    monkeypatch.setattr(
        sound_choices, "BLOCK", 37
    )  # many cdist blocks, of different length windows
    settled = [
        _req(name="whatever", music_id=snapshot._ranked[3].music_id),  # by id
        _req(name=snapshot._ranked[5].name, original=True),  # an original matches only by id
        _req(name="original sound - someone"),
        _req(name="!!!"),
        _req(),
        _req(name=snapshot._ranked[7].name.upper()),  # exact after normalising
    ]
    batch = settled + queries + queries[:50]  # a repeated query is searched once
    alone = _fresh(snapshot)  # its own memos
    expected = [match_sound(req, alone) for req in batch]
    fresh = _fresh(snapshot)
    assert match_sounds(batch, fresh) == expected
    assert sum(found is not None for found, _ in expected) > 500
    # The answers are memoised: the per-request path now returns them without searching.
    assert [match_sound(req, fresh) for req in batch] == expected
    assert match_sounds(batch, fresh) == expected


def test_batch_matching_uses_the_memo_first(big_world):
    snapshot, queries = big_world
    fresh = _fresh(snapshot)
    req = next(req for req in queries if match_sound(req, snapshot)[0] is not None)
    fresh._matches[(req.sound_name, req.sound_author, tm.SOUND_CUTOFF)] = (
        None,
        0.0,
    )  # a planted answer
    assert match_sounds([req], fresh) == [(None, 0.0)]  # the planted answer, not a search, gave it


def test_score_trends_many_equals_score_trends(big_world):
    snapshot, queries = big_world
    tagged = [
        dataclasses.replace(req, hashtags=["fyp", "dancce", "zzz"][: i % 4])
        for i, req in enumerate(queries)
    ]
    small = [
        _req(name="Espreso", hashtags=["fyp", "foryou"]),
        _req(music_id=APT.music_id),
        _req(hashtags=["grwm"]),
    ]
    for snap, reqs in ((snapshot, tagged), (SNAPSHOT, small)):
        expected = [score_trends(req, snap) for req in reqs]
        assert score_trends_many(reqs, _fresh(snap)) == expected
    empty = score_trends_many(small, TrendSnapshot.empty())
    assert [signal.available for signal in empty] == [False] * 3 and "no trending_sounds" in empty[
        0
    ].reason
