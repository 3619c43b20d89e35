"""The ``trends`` signal: does a request ride what is trending now?

A `TrendSnapshot` holds the sounds of the latest `trending_sounds` day and the hashtags' share of
recent videos (`viral_pipeline.store.trend_snapshot` loads it from the database).

**Sound matching** (`match_sound`), in order:

1. the request's sound id equals a trending sound's id: similarity 100;
2. otherwise the name (with the author when the request gives one) is compared with the trending
   sounds' "name author" (or just their names when the request gives no author), after
   normalising both: lowercase, punctuation to spaces (rapidfuzz's `default_process`), a
   "feat./ft./featuring ..." tail dropped, whitespace collapsed. Equal texts score 100; else
   ``rapidfuzz.process.extractOne`` finds the best similarity at or above the cutoff, where
   similarity = max(``fuzz.ratio``, ``fuzz.token_sort_ratio``): a typo or a different word order
   still matches. Ties go to the sound with the higher trend score. When a request gives an
   author but no trending sound of that "name author" is close enough, only trending sounds
   whose author is unknown are compared by name.

A sound marked original, or named like one ("original sound", "sonido original", "Originalton",
...), matches only by id: those names are shared by millions of unrelated sounds.

Why not ``fuzz.WRatio`` or ``token_set_ratio``: measured on 2,000 trending titles made of common
song words (love, night, baby...) and 1,000 titles that are not among them, at a cutoff of 85
WRatio matched 72% of the unrelated titles (98% with authors) and token_set_ratio 69% by name:
both score any two titles sharing one whole word at 85.5 or more once their lengths differ
(``partial_token_set_ratio`` is 100 whenever one word is shared) or one title's words are a
subset of the other's ("Love" ~ "Love Story"). ratio and token_sort_ratio matched 1% or less,
and still found 85-95% of single-typo names and every reordered one.

Speed: one request's fuzzy search scores every trending sound; a batch (`match_sounds`,
`score_trends_many`) scores its distinct names together, each against every sound it could match
(`viral_pipeline.engine.signals.sound_choices`). Both give the same answers, which the tests check.
Answers are memoised per snapshot (at most `sound_choices.CACHE_SIZE` of each kind, then a memo
starts over).

**Hashtags**: a request's tag matches a snapshot tag of the same name, else one a single
insertion, deletion or substitution away whose ``fuzz.ratio`` reaches `HASHTAG_CUTOFF` (tags of
`HASHTAG_MIN_FUZZY_CHARS`+ characters): "fypシ" counts as "fyp", "cat" does not become "car".
A tag's popularity is its percentile among the snapshot's tags by share of recent videos (the
most used scores 1, tied shares score alike).

**Score**: ``100 * (0.6 * sound + 0.4 * hashtags)``, where ``sound`` is the matched sound's trend
score (0..1: its percent rank among that day's sounds; 0 without a match) and ``hashtags`` is
the mean popularity of the request's three most popular trending tags (a missing one counts 0).
An original sound or no sound costs nothing beyond missing the sound's lift. An empty snapshot
(no trending_sounds yet) makes the signal unavailable.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date

from rapidfuzz import fuzz
from rapidfuzz.utils import default_process

from viral_pipeline.engine.inputs.request import NormalizedRequest
from viral_pipeline.engine.signals.aggregate import Signal, SignalName
from viral_pipeline.engine.signals.sound_choices import SoundChoices, SoundSearch, remember

SOUND_CUTOFF = 85.0
HASHTAG_CUTOFF = 85.0
HASHTAG_MIN_FUZZY_CHARS = 3
SOUND_WEIGHT, HASHTAG_WEIGHT = 0.6, 0.4
TOP_HASHTAGS = 3

# Names TikTok gives sounds that creators record themselves, in the languages it labels them in.
_GENERIC_ORIGINAL = re.compile(
    r"^(original sound|original audio|sonido original|son original|som original|suono originale"
    r"|originalton|originalljud|oryginalny dźwięk|orijinal ses|оригинальный звук|الصوت الأصلي"
    r"|เสียงต้นฉบับ|オリジナル楽曲|原声|原聲|오리지널 사운드)(\W|$)"
)
_FEATURING = re.compile(r" (feat|ft|featuring) .*$| (feat|ft|featuring)$")


def normalise_text(text: str | None) -> str:
    """Lowercase, punctuation to spaces, a "feat. ..." tail dropped, whitespace collapsed."""
    if not text:
        return ""
    return _FEATURING.sub("", " ".join(default_process(text).split()))


def _name_author(name: str | None, author: str | None) -> str:
    return f"{normalise_text(name)} {normalise_text(author)}".strip()


def _one_deletion(word: str) -> set[str]:
    return {word[:i] + word[i + 1 :] for i in range(len(word))}


class _HashtagPopularity:
    """Hashtag -> popularity (0..1), and near spellings through a one-deletion index."""

    def __init__(self, shares: Mapping[str, float]) -> None:
        merged: dict[str, float] = {}
        for tag, share in shares.items():
            name = str(tag).strip().lstrip("#").lower()
            if name:
                merged[name] = max(merged.get(name, 0.0), float(share))
        ordered = sorted(merged.values(), reverse=True)
        first_at: dict[float, int] = {}
        for position, share in enumerate(ordered):
            first_at.setdefault(share, position)
        self.popularity = {
            tag: 1.0 - first_at[share] / len(merged) for tag, share in merged.items()
        }
        # Each tag under itself and under every one-character deletion of it: two spellings one
        # insertion, deletion or substitution apart meet under one key.
        self._near: dict[str, list[str]] = {}
        for tag in merged:
            for variant in _one_deletion(tag) | {tag}:
                self._near.setdefault(variant, []).append(tag)
        self._memo: dict[str, str | None] = {}

    def match(self, tag: str) -> str | None:
        """The snapshot's name for `tag`: itself, a near spelling, or None."""
        if tag in self.popularity:
            return tag
        if tag in self._memo:
            return self._memo[tag]
        found = None
        if len(tag) >= HASHTAG_MIN_FUZZY_CHARS:
            near = {
                name
                for variant in _one_deletion(tag) | {tag}
                for name in self._near.get(variant, ())
            }
            # The most similar spelling, then the most popular one.
            scored = [(fuzz.ratio(tag, name), self.popularity[name], name) for name in near]
            scored = [entry for entry in scored if entry[0] >= HASHTAG_CUTOFF]
            if scored:
                found = max(scored)[2]
        remember(self._memo, tag, found)
        return found


@dataclass(frozen=True, slots=True)
class TrendingSound:
    music_id: str
    name: str
    author: str | None
    trend_score: float  # 0..1: percent rank among the sounds used that day


@dataclass(frozen=True, eq=False)
class TrendSnapshot:
    """Trending sounds of one day and hashtag shares (0..1) of recent days.

    The lookup tables are built at construction (about 10 ms for 2,000 sounds and 500 hashtags):
    build a snapshot once and score many requests against it.
    """

    day: date | None
    sounds: tuple[TrendingSound, ...] = ()
    hashtags: dict[str, float] = field(default_factory=dict)
    _ranked: tuple[TrendingSound, ...] = field(init=False, repr=False)
    _anonymous: tuple[TrendingSound, ...] = field(init=False, repr=False)
    _by_id: dict[str, TrendingSound] = field(init=False, repr=False)
    _names: SoundChoices = field(init=False, repr=False)
    _full: SoundChoices = field(init=False, repr=False)
    _anonymous_names: SoundChoices = field(init=False, repr=False)
    _tags: _HashtagPopularity = field(init=False, repr=False)
    # (sound name, author, cutoff) as the request gives them -> match_sound's answer
    _matches: dict[tuple[str | None, str | None, float], tuple[TrendingSound | None, float]] = (
        field(init=False, repr=False)
    )

    def __post_init__(self) -> None:
        sounds = tuple(self.sounds)
        ranked = tuple(
            sorted(sounds, key=lambda s: -s.trend_score)
        )  # stable: ties keep their order
        anonymous = tuple(s for s in ranked if not normalise_text(s.author))
        by_id: dict[str, TrendingSound] = {}
        for sound in ranked:
            by_id.setdefault(sound.music_id, sound)
        set_ = object.__setattr__
        set_(self, "sounds", sounds)
        set_(self, "_ranked", ranked)
        set_(self, "_anonymous", anonymous)
        set_(self, "_by_id", by_id)
        set_(self, "_names", SoundChoices([normalise_text(s.name) for s in ranked]))
        set_(self, "_full", SoundChoices([_name_author(s.name, s.author) for s in ranked]))
        set_(self, "_anonymous_names", SoundChoices([normalise_text(s.name) for s in anonymous]))
        set_(self, "_tags", _HashtagPopularity(self.hashtags))
        set_(self, "_matches", {})

    def __reduce__(
        self,
    ) -> tuple[
        type[TrendSnapshot], tuple[date | None, tuple[TrendingSound, ...], dict[str, float]]
    ]:
        # Pickled (between Dagster ops, say) as its data alone; the indexes are rebuilt on load.
        return type(self), (self.day, self.sounds, dict(self.hashtags))

    @classmethod
    def empty(cls) -> TrendSnapshot:
        return cls(day=None)

    @property
    def is_empty(self) -> bool:
        return not self.sounds

    def hashtag_popularity(self, tag: str) -> tuple[str | None, float]:
        """(the snapshot's tag that `tag` matches, or None; its popularity 0..1)."""
        name = self._tags.match(tag)
        return name, (self._tags.popularity[name] if name is not None else 0.0)


def is_generic_original(name: str | None) -> bool:
    """True for names like "original sound - someone", which only an id can match."""
    if not name:
        return False
    return bool(
        _GENERIC_ORIGINAL.match(name.strip().casefold())
        or _GENERIC_ORIGINAL.match(normalise_text(name))
    )


def match_sound(
    req: NormalizedRequest,
    snapshot: TrendSnapshot,
    *,
    cutoff: float = SOUND_CUTOFF,
) -> tuple[TrendingSound | None, float]:
    """(the trending sound the request uses, similarity 0..100), or (None, 0.0)."""
    settled = _by_id_or_unnamed(req, snapshot)
    if settled is not None:
        return settled
    key = (req.sound_name, req.sound_author, cutoff)
    found = snapshot._matches.get(key)
    if found is None:

        def one_by_one(choices: SoundChoices, queries: list[str]) -> list[tuple[int, float]]:
            return [choices.best(query, cutoff) for query in queries]

        found = _match_names([key], snapshot, one_by_one)[0]  # type: ignore[list-item]
        remember(snapshot._matches, key, found)
    return found


def match_sounds(
    reqs: Sequence[NormalizedRequest], snapshot: TrendSnapshot, *, cutoff: float = SOUND_CUTOFF
) -> list[tuple[TrendingSound | None, float]]:
    """`match_sound` of every request; the names not memoised yet are searched together, each
    distinct one once."""
    answers: list[tuple[TrendingSound | None, float]] = [_NO_MATCH] * len(reqs)
    pending: dict[tuple[str, str | None, float], list[int]] = {}
    for position, req in enumerate(reqs):
        settled = _by_id_or_unnamed(req, snapshot)
        if settled is not None:
            answers[position] = settled
            continue
        key = (req.sound_name, req.sound_author, cutoff)
        found = snapshot._matches.get(key)
        if found is not None:
            answers[position] = found
        else:
            pending.setdefault(key, []).append(position)  # type: ignore[arg-type]

    def together(choices: SoundChoices, queries: list[str]) -> list[tuple[int, float]]:
        return choices.best_many(queries, cutoff)

    for key, found in zip(pending, _match_names(list(pending), snapshot, together)):
        remember(snapshot._matches, key, found)
        for position in pending[key]:
            answers[position] = found
    return answers


_NO_MATCH: tuple[TrendingSound | None, float] = (None, 0.0)


def _by_id_or_unnamed(
    req: NormalizedRequest, snapshot: TrendSnapshot
) -> tuple[TrendingSound | None, float] | None:
    """The answer when the name need not be searched (a trending id, an original or no name)."""
    if req.sound_id is not None:
        by_id = snapshot._by_id.get(req.sound_id)
        if by_id is not None:
            return by_id, 100.0
    if req.sound_original or not req.sound_name:
        return _NO_MATCH
    return None


def _match_names(
    keys: list[tuple[str, str | None, float]], snapshot: TrendSnapshot, search: SoundSearch
) -> list[tuple[TrendingSound | None, float]]:
    """The sound each (name, author, cutoff) names, searching with `search` (one query at a time
    or all together). The order: a generic "original sound" name matches nothing; with an author,
    "name author" among all sounds, then the name among sounds without an author; else the name."""
    found = [_NO_MATCH] * len(keys)
    with_author: list[tuple[int, str, str]] = []
    by_name: list[tuple[int, str]] = []
    for i, (raw_name, raw_author, _) in enumerate(keys):
        if is_generic_original(raw_name):
            continue
        name, author = normalise_text(raw_name), normalise_text(raw_author)
        if author:
            with_author.append((i, name, author))
        else:
            by_name.append((i, name))
    anonymous: list[tuple[int, str]] = []  # with an author, no "name author" close enough
    full = search(snapshot._full, [f"{name} {author}" for _, name, author in with_author])
    for (i, name, _), (index, similarity) in zip(with_author, full):
        if index >= 0:
            found[i] = (snapshot._ranked[index], similarity)
        else:
            anonymous.append((i, name))
    for entries, choices, sounds in (
        (anonymous, snapshot._anonymous_names, snapshot._anonymous),
        (by_name, snapshot._names, snapshot._ranked),
    ):
        for (i, _), (index, similarity) in zip(
            entries, search(choices, [name for _, name in entries])
        ):
            if index >= 0:
                found[i] = (sounds[index], similarity)
    return found


def sound_trend_score(req: NormalizedRequest, snapshot: TrendSnapshot) -> float:
    """The matched sound's trend score (0..1), 0 when the request uses no trending sound."""
    sound, _ = match_sound(req, snapshot)
    return sound.trend_score if sound is not None else 0.0


def sound_trend_scores(reqs: Sequence[NormalizedRequest], snapshot: TrendSnapshot) -> list[float]:
    """`sound_trend_score` of every request, their sounds matched together (`match_sounds`)."""
    return [
        sound.trend_score if sound is not None else 0.0 for sound, _ in match_sounds(reqs, snapshot)
    ]


def _matched_hashtags(tags: Iterable[str], snapshot: TrendSnapshot) -> dict[str, tuple[str, float]]:
    """Snapshot tag -> (the request's spelling, popularity); a snapshot tag counts once."""
    index = snapshot._tags
    popularity = index.popularity
    matched: dict[str, tuple[str, float]] = {}
    for tag in tags:
        name = tag if tag in popularity else index.match(tag)
        if name is not None and name not in matched:
            matched[name] = (tag, popularity[name])
    return matched


def score_trends(req: NormalizedRequest, snapshot: TrendSnapshot) -> Signal:
    """How much the request's sound and hashtags are trending, 0..100 (see the module docstring)."""
    if snapshot.is_empty:
        return _NO_SNAPSHOT
    return _trend_signal(req, snapshot, match_sound(req, snapshot))


def score_trends_many(reqs: Sequence[NormalizedRequest], snapshot: TrendSnapshot) -> list[Signal]:
    """`score_trends` of every request, with their sounds matched together (`match_sounds`)."""
    if snapshot.is_empty:
        return [_NO_SNAPSHOT] * len(reqs)
    return [
        _trend_signal(req, snapshot, found)
        for req, found in zip(reqs, match_sounds(reqs, snapshot))
    ]


_NO_SNAPSHOT = Signal.unavailable(SignalName.TRENDS, "no trending_sounds yet")


def _trend_signal(
    req: NormalizedRequest, snapshot: TrendSnapshot, found: tuple[TrendingSound | None, float]
) -> Signal:
    sound, similarity = found
    matched = _matched_hashtags(req.hashtags, snapshot)
    top = (
        sorted(matched.items(), key=_by_popularity)[:TOP_HASHTAGS]
        if len(matched) > 1
        else list(matched.items())
    )
    tag_lift = sum(pop for _, (_, pop) in top) / TOP_HASHTAGS
    sound_lift = min(max(sound.trend_score, 0.0), 1.0) if sound is not None else 0.0
    score = 100.0 * (SOUND_WEIGHT * sound_lift + HASHTAG_WEIGHT * tag_lift)

    if sound is not None:
        how = "same id" if req.sound_id == sound.music_id else f"similarity {similarity:.0f}"
        sound_part = f"sound {sound.name!r} trend {sound.trend_score:.2f} ({how})"
    elif req.has_sound:
        sound_part = "original sound, not trending" if req.sound_original else "sound not trending"
    else:
        sound_part = "no sound"
    reason = f"{sound_part}; {len(matched)} of {len(req.hashtags)} hashtags trending"
    if top:
        reason += ": " + ", ".join(
            f"#{name} {pop:.2f}" if spelled == name else f"#{spelled}~#{name} {pop:.2f}"
            for name, (spelled, pop) in top
        )
    return Signal(
        name=SignalName.TRENDS, score=round(min(score, 100.0), 2), available=True, reason=reason
    )


def _by_popularity(item: tuple[str, tuple[str, float]]) -> float:
    return -item[1][1]
