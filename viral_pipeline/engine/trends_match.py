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

Speed: against `SHORTLIST` or fewer sounds every choice is scored. Against more (2,000 is usual),
only some are. First an exact bound: ``ratio`` cannot reach the cutoff unless the lengths are
close (ratio <= 200 * shorter / (sum of lengths)), so only choices of a length in that window
can match; when the window holds at most 2 x `SHORTLIST` choices, they are all scored. Otherwise
the shortlist is the `SHORTLIST` choices in the window sharing the most word trigrams with the
query (a typo breaks at most three of a word's trigrams; word trigrams ignore word order),
counted over the trigrams found in at most `COMMON_GRAM_SHARE` of the choices, or over all of
them when fewer than `MIN_RARE_HITS` of the query's are that rare. The tests check that the
shortlist gives the full scan's answers (`full_scan=True`). Answers are memoised per snapshot
(at most `CACHE_SIZE` of each kind, then a memo starts over).

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
from bisect import bisect_left, bisect_right
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date

import numpy as np
from rapidfuzz import fuzz, process
from rapidfuzz.utils import default_process

from viral_pipeline.engine.aggregate import Signal
from viral_pipeline.engine.request import NormalizedRequest

SOUND_CUTOFF = 85.0
HASHTAG_CUTOFF = 85.0
HASHTAG_MIN_FUZZY_CHARS = 3
SOUND_WEIGHT, HASHTAG_WEIGHT = 0.6, 0.4
TOP_HASHTAGS = 3
SHORTLIST = 32
COMMON_GRAM_SHARE = 0.05
MIN_RARE_HITS = 4
CACHE_SIZE = 100_000

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


def _sort_words(text: str) -> str:
    return " ".join(sorted(text.split()))


def _trigrams(word: str) -> set[str]:
    """Character trigrams of one word, padded: "ab" -> {"  a", " ab", "ab "}."""
    padded = f"  {word} "
    return {padded[i: i + 3] for i in range(len(word) + 1)}


class _SoundChoices:
    """Normalised texts: exact lookup, then a trigram shortlist, then ratio / token_sort_ratio."""

    def __init__(self, texts: list[str]) -> None:
        self.texts = texts
        self._sorted = [_sort_words(text) for text in texts]
        self._exact: dict[str, int] = {}
        for i, text in enumerate(texts):
            self._exact.setdefault(text, i)  # the first, i.e. the best trend score, wins a tie
        self._lengths = np.fromiter(map(len, texts), dtype=np.int64, count=len(texts))
        self._by_length = sorted(range(len(texts)), key=lambda i: len(texts[i]))
        self._sorted_lengths = [len(texts[i]) for i in self._by_length]
        # The trigram index is built on the first fuzzy search that needs it (about 20 ms for
        # 2,000 texts): a request with an exact, an id or no sound never pays for it.
        self._indexed = False
        self._rare: dict[str, np.ndarray] = {}
        self._common: dict[str, np.ndarray] = {}
        self._memo: dict[tuple[str, float], tuple[int, float]] = {}
        # word -> (postings of its rare trigrams, postings of its common ones)
        self._words: dict[str, tuple[list[np.ndarray], list[np.ndarray]]] = {}

    def _index(self) -> None:
        postings: dict[str, list[int]] = {}
        for i, text in enumerate(self.texts):
            for gram in set().union(*map(_trigrams, text.split())):
                postings.setdefault(gram, []).append(i)
        # A trigram found in many choices hardly tells them apart: the shortlist counts such
        # trigrams only for a query with few others.
        limit = max(SHORTLIST // 2, int(COMMON_GRAM_SHARE * len(self.texts)))
        for gram, ids in postings.items():
            (self._rare if len(ids) <= limit else self._common)[gram] = np.asarray(ids, dtype=np.intp)
        self._indexed = True

    def _word(self, word: str) -> tuple[list[np.ndarray], list[np.ndarray]]:
        entry = self._words.get(word)
        if entry is None:
            grams = _trigrams(word)
            entry = (
                [ids for gram in grams if (ids := self._rare.get(gram)) is not None],
                [ids for gram in grams if (ids := self._common.get(gram)) is not None],
            )
            if len(self._words) >= CACHE_SIZE:
                self._words.clear()
            self._words[word] = entry
        return entry

    def _shortlist(self, query: str, cutoff: float) -> list[int] | None:
        """Indices worth scoring, in their original order; None means all of them."""
        if len(self.texts) <= SHORTLIST:
            return None
        # Exact bound: ratio(a, b) <= 200 * min(len) / (len(a) + len(b)), so only choices of a
        # length within this window can reach the cutoff (sorting words keeps the length).
        share = max(cutoff, 1.0) / 100.0
        lo = bisect_left(self._sorted_lengths, len(query) * share / (2.0 - share) - 1e-9)
        hi = bisect_right(self._sorted_lengths, len(query) * (2.0 - share) / share + 1e-9)
        if hi - lo <= 2 * SHORTLIST:
            return sorted(self._by_length[lo:hi])
        if not self._indexed:
            self._index()
        hits: list[np.ndarray] = []
        common: list[np.ndarray] = []
        for word in query.split():
            rare_ids, common_ids = self._word(word)
            hits += rare_ids
            common += common_ids
        if len(hits) < MIN_RARE_HITS:  # a short query, or one of common words: count every trigram
            hits += common
            if not hits:
                return []
        counts = np.bincount(np.concatenate(hits), minlength=len(self.texts))
        candidates = np.flatnonzero(counts)
        if len(candidates) > SHORTLIST:
            lengths = self._lengths[candidates]
            candidates = candidates[(lengths >= self._sorted_lengths[lo]) & (lengths <= self._sorted_lengths[hi - 1])]
            if len(candidates) > SHORTLIST:  # the ones sharing the most trigrams with the query
                candidates = np.sort(candidates[np.argpartition(counts[candidates], -SHORTLIST)[-SHORTLIST:]])
        return candidates.tolist()

    def best(self, query: str, cutoff: float, *, full_scan: bool = False) -> tuple[int, float]:
        """(index, similarity) of the best choice at or above `cutoff`, or (-1, 0.0)."""
        if not query:
            return -1, 0.0
        exact = self._exact.get(query)
        if exact is not None:
            return exact, 100.0
        if full_scan:
            return self._fuzzy(query, cutoff, None)
        key = (query, cutoff)
        found = self._memo.get(key)
        if found is None:
            found = self._fuzzy(query, cutoff, self._shortlist(query, cutoff))
            if len(self._memo) >= CACHE_SIZE:
                self._memo.clear()
            self._memo[key] = found
        return found

    def _fuzzy(self, query: str, cutoff: float, shortlist: list[int] | None) -> tuple[int, float]:
        if shortlist is None:
            plain, ordered = self.texts, self._sorted
        else:
            plain = [self.texts[i] for i in shortlist]
            ordered = [self._sorted[i] for i in shortlist]
        found = (-1, 0.0)
        # ratio on the texts, then on their words sorted (= token_sort_ratio); the higher wins,
        # and between equal scores the earlier (more trending) choice.
        for text, pool in ((query, plain), (_sort_words(query), ordered)):
            match = process.extractOne(text, pool, scorer=fuzz.ratio, processor=None, score_cutoff=cutoff)
            if match is not None:
                index = match[2] if shortlist is None else shortlist[match[2]]
                score = float(match[1])
                if score > found[1] or (score == found[1] and index < found[0]):
                    found = (index, score)
        return found


def _one_deletion(word: str) -> set[str]:
    return {word[:i] + word[i + 1:] for i in range(len(word))}


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
        self.popularity = {tag: 1.0 - first_at[share] / len(merged) for tag, share in merged.items()}
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
            near = {name for variant in _one_deletion(tag) | {tag} for name in self._near.get(variant, ())}
            # The most similar spelling, then the most popular one.
            scored = [(fuzz.ratio(tag, name), self.popularity[name], name) for name in near]
            scored = [entry for entry in scored if entry[0] >= HASHTAG_CUTOFF]
            if scored:
                found = max(scored)[2]
        if len(self._memo) >= CACHE_SIZE:
            self._memo.clear()
        self._memo[tag] = found
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

    The lookup tables are built at construction (about 10 ms for 2,000 sounds and 500 hashtags),
    the trigram indexes on the first fuzzy search (about 20 ms each): build a snapshot once and
    score many requests against it.
    """

    day: date | None
    sounds: tuple[TrendingSound, ...] = ()
    hashtags: dict[str, float] = field(default_factory=dict)
    _ranked: tuple[TrendingSound, ...] = field(init=False, repr=False)
    _anonymous: tuple[TrendingSound, ...] = field(init=False, repr=False)
    _by_id: dict[str, TrendingSound] = field(init=False, repr=False)
    _names: _SoundChoices = field(init=False, repr=False)
    _full: _SoundChoices = field(init=False, repr=False)
    _anonymous_names: _SoundChoices = field(init=False, repr=False)
    _tags: _HashtagPopularity = field(init=False, repr=False)
    # (sound name, author, cutoff) as the request gives them -> match_sound's answer
    _matches: dict[tuple[str, str | None, float], tuple[TrendingSound | None, float]] = field(
        init=False, repr=False)

    def __post_init__(self) -> None:
        sounds = tuple(self.sounds)
        ranked = tuple(sorted(sounds, key=lambda s: -s.trend_score))  # stable: ties keep their order
        anonymous = tuple(s for s in ranked if not normalise_text(s.author))
        by_id: dict[str, TrendingSound] = {}
        for sound in ranked:
            by_id.setdefault(sound.music_id, sound)
        set_ = object.__setattr__
        set_(self, "sounds", sounds)
        set_(self, "_ranked", ranked)
        set_(self, "_anonymous", anonymous)
        set_(self, "_by_id", by_id)
        set_(self, "_names", _SoundChoices([normalise_text(s.name) for s in ranked]))
        set_(self, "_full", _SoundChoices([_name_author(s.name, s.author) for s in ranked]))
        set_(self, "_anonymous_names", _SoundChoices([normalise_text(s.name) for s in anonymous]))
        set_(self, "_tags", _HashtagPopularity(self.hashtags))
        set_(self, "_matches", {})

    def __reduce__(self) -> tuple[type[TrendSnapshot], tuple[date | None, tuple[TrendingSound, ...], dict[str, float]]]:
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
    return bool(_GENERIC_ORIGINAL.match(name.strip().casefold()) or _GENERIC_ORIGINAL.match(normalise_text(name)))


def match_sound(
    req: NormalizedRequest, snapshot: TrendSnapshot, *, cutoff: float = SOUND_CUTOFF, full_scan: bool = False
) -> tuple[TrendingSound | None, float]:
    """(the trending sound the request uses, similarity 0..100), or (None, 0.0).

    `full_scan` scores every trending sound instead of a shortlist (for checks; slower).
    """
    if req.sound_id is not None:
        by_id = snapshot._by_id.get(req.sound_id)
        if by_id is not None:
            return by_id, 100.0
    if req.sound_original or not req.sound_name:
        return None, 0.0
    key = (req.sound_name, req.sound_author, cutoff)
    found = None if full_scan else snapshot._matches.get(key)
    if found is None:
        found = _match_name(req.sound_name, req.sound_author, snapshot, cutoff, full_scan)
        if not full_scan:
            if len(snapshot._matches) >= CACHE_SIZE:
                snapshot._matches.clear()
            snapshot._matches[key] = found
    return found


def _match_name(
    raw_name: str, raw_author: str | None, snapshot: TrendSnapshot, cutoff: float, full_scan: bool
) -> tuple[TrendingSound | None, float]:
    if is_generic_original(raw_name):
        return None, 0.0
    name = normalise_text(raw_name)
    author = normalise_text(raw_author)
    if author:
        index, similarity = snapshot._full.best(f"{name} {author}", cutoff, full_scan=full_scan)
        if index >= 0:
            return snapshot._ranked[index], similarity
        index, similarity = snapshot._anonymous_names.best(name, cutoff, full_scan=full_scan)
        return (snapshot._anonymous[index], similarity) if index >= 0 else (None, 0.0)
    index, similarity = snapshot._names.best(name, cutoff, full_scan=full_scan)
    return (snapshot._ranked[index], similarity) if index >= 0 else (None, 0.0)


def sound_trend_score(req: NormalizedRequest, snapshot: TrendSnapshot) -> float:
    """The matched sound's trend score (0..1), 0 when the request uses no trending sound."""
    sound, _ = match_sound(req, snapshot)
    return sound.trend_score if sound is not None else 0.0


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
        return Signal.unavailable("trends", "no trending_sounds yet")
    sound, similarity = match_sound(req, snapshot)
    matched = _matched_hashtags(req.hashtags, snapshot)
    top = sorted(matched.items(), key=_by_popularity)[:TOP_HASHTAGS] if len(matched) > 1 else list(matched.items())
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
    return Signal(name="trends", score=round(min(score, 100.0), 2), available=True, reason=reason)


def _by_popularity(item: tuple[str, tuple[str, float]]) -> float:
    return -item[1][1]
