"""The trending sounds' names as fuzzy-search choices: the best match of one query, or of many.

Similarity is max(``fuzz.ratio``, ``fuzz.token_sort_ratio``) on normalised texts (why these two:
`viral_pipeline.engine.signals.trends_match`). The best choice is the one of highest similarity at or above
the cutoff; between equal similarities the earlier choice (the more trending sound) wins.

**One query** (`SoundChoices.best`, a prediction run scores one request): against `SHORTLIST` or
fewer choices every choice is scored. Against more (2,000 is usual), only some are. First an exact
bound: ``ratio`` cannot reach the cutoff unless the lengths are close (ratio <= 200 * shorter /
(sum of lengths)), so only choices of a length in that window can match; when the window holds at
most 2 x `SHORTLIST` choices, they are all scored. Otherwise the shortlist is the `SHORTLIST`
choices in the window sharing the most word trigrams with the query (a typo breaks at most three
of a word's trigrams; word trigrams ignore word order), counted over the trigrams found in at most
`COMMON_GRAM_SHARE` of the choices, or over all of them when fewer than `MIN_RARE_HITS` of the
query's are that rare. The tests check that the shortlist gives the full scan's answers
(``full_scan=True``).

**Many queries** (`SoundChoices.best_many`, for batches): no shortlist. The queries are sorted by
length and cut into blocks of `BLOCK`; each block is scored against every choice in its length
window at once by ``rapidfuzz.process.cdist``, which compares several queries per SIMD
instruction: about 7 us per query and scorer against 2,000 choices here (14 us for both, against
27 us for a shortlisted search), and exactly the full scan's answer. It needs no trigram index.

Answers are memoised per choice set (at most `CACHE_SIZE` of each kind, then a memo starts over);
both paths share the memo.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections.abc import Callable, Sequence

import numpy as np
from rapidfuzz import fuzz, process

SHORTLIST = 32
COMMON_GRAM_SHARE = 0.05
MIN_RARE_HITS = 4
CACHE_SIZE = 100_000
BLOCK = 256  # queries per cdist call: large enough to fill SIMD lanes, small enough for a narrow length window

NOT_FOUND: tuple[int, float] = (-1, 0.0)


def remember(memo: dict, key: object, value: object) -> None:  # type: ignore[type-arg]
    """memo[key] = value, the memo starting over once it holds `CACHE_SIZE` answers."""
    if len(memo) >= CACHE_SIZE:
        memo.clear()
    memo[key] = value


def _sort_words(text: str) -> str:
    return " ".join(sorted(text.split()))


def _trigrams(word: str) -> set[str]:
    """Character trigrams of one word, padded: "ab" -> {"  a", " ab", "ab "}."""
    padded = f"  {word} "
    return {padded[i : i + 3] for i in range(len(word) + 1)}


class SoundChoices:
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
            (self._rare if len(ids) <= limit else self._common)[gram] = np.asarray(
                ids, dtype=np.intp
            )
        self._indexed = True

    def _word(self, word: str) -> tuple[list[np.ndarray], list[np.ndarray]]:
        entry = self._words.get(word)
        if entry is None:
            grams = _trigrams(word)
            entry = (
                [ids for gram in grams if (ids := self._rare.get(gram)) is not None],
                [ids for gram in grams if (ids := self._common.get(gram)) is not None],
            )
            remember(self._words, word, entry)
        return entry

    def _shortlist(self, query: str, cutoff: float) -> list[int] | None:
        """Indices worth scoring, in their original order; None means all of them."""
        if len(self.texts) <= SHORTLIST:
            return None
        lo, hi = self._window(len(query), len(query), cutoff)
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
            candidates = candidates[
                (lengths >= self._sorted_lengths[lo]) & (lengths <= self._sorted_lengths[hi - 1])
            ]
            if len(candidates) > SHORTLIST:  # the ones sharing the most trigrams with the query
                candidates = np.sort(
                    candidates[np.argpartition(counts[candidates], -SHORTLIST)[-SHORTLIST:]]
                )
        return candidates.tolist()

    def _window(self, shortest: int, longest: int, cutoff: float) -> tuple[int, int]:
        """Positions in `_by_length` of the choices whose length lets a query of `shortest` ..
        `longest` characters reach the cutoff. Exact bound: ratio(a, b) <= 200 * min(len) /
        (len(a) + len(b)) (sorting words keeps the length)."""
        share = max(cutoff, 1.0) / 100.0
        lo = bisect_left(self._sorted_lengths, shortest * share / (2.0 - share) - 1e-9)
        hi = bisect_right(self._sorted_lengths, longest * (2.0 - share) / share + 1e-9)
        return lo, hi

    def _without_search(self, query: str) -> tuple[int, float] | None:
        """The answer when no fuzzy search is needed: none for an empty query, the exact text."""
        if not query:
            return NOT_FOUND
        exact = self._exact.get(query)
        return (exact, 100.0) if exact is not None else None

    def best(self, query: str, cutoff: float, *, full_scan: bool = False) -> tuple[int, float]:
        """(index, similarity) of the best choice at or above `cutoff`, or (-1, 0.0)."""
        found = self._without_search(query)
        if found is not None:
            return found
        if full_scan:
            return self._fuzzy(query, cutoff, None)
        key = (query, cutoff)
        found = self._memo.get(key)
        if found is None:
            found = self._fuzzy(query, cutoff, self._shortlist(query, cutoff))
            remember(self._memo, key, found)
        return found

    def best_many(self, queries: Sequence[str], cutoff: float) -> list[tuple[int, float]]:
        """`best` of every query (the full scan's answer), the fuzzy ones scored together."""
        answers: list[tuple[int, float]] = [NOT_FOUND] * len(queries)
        pending: dict[str, list[int]] = {}  # a query asked twice is scored once
        for position, query in enumerate(queries):
            found = self._without_search(query) or self._memo.get((query, cutoff))
            if found is not None:
                answers[position] = found
            else:
                pending.setdefault(query, []).append(position)
        if pending:
            for query, found in zip(pending, self._scan_many(list(pending), cutoff)):
                remember(self._memo, (query, cutoff), found)
                for position in pending[query]:
                    answers[position] = found
        return answers

    def _fuzzy(self, query: str, cutoff: float, shortlist: list[int] | None) -> tuple[int, float]:
        if shortlist is None:
            plain, ordered = self.texts, self._sorted
        else:
            plain = [self.texts[i] for i in shortlist]
            ordered = [self._sorted[i] for i in shortlist]
        found = NOT_FOUND
        # ratio on the texts, then on their words sorted (= token_sort_ratio).
        for text, pool in ((query, plain), (_sort_words(query), ordered)):
            match = process.extractOne(
                text, pool, scorer=fuzz.ratio, processor=None, score_cutoff=cutoff
            )
            if match is not None:
                found = _better(
                    found, match[2] if shortlist is None else shortlist[match[2]], float(match[1])
                )
        return found

    def _scan_many(self, queries: list[str], cutoff: float) -> list[tuple[int, float]]:
        """Every choice in each query's length window scored, `BLOCK` queries per cdist call."""
        order = sorted(range(len(queries)), key=lambda i: len(queries[i]))
        found = [NOT_FOUND] * len(queries)
        for start in range(0, len(order), BLOCK):
            block = order[start : start + BLOCK]  # queries of similar lengths share a narrow window
            lo, hi = self._window(len(queries[block[0]]), len(queries[block[-1]]), cutoff)
            columns = sorted(
                self._by_length[lo:hi]
            )  # in choice order, so argmax takes the earliest of a tie
            if not columns:
                continue
            rows = np.arange(len(block))
            plain = ([queries[i] for i in block], [self.texts[i] for i in columns])
            ordered = ([_sort_words(queries[i]) for i in block], [self._sorted[i] for i in columns])
            for texts, pool in (plain, ordered):
                # A pair below the cutoff scores 0 (not a match, as 0 < cutoff unless the cutoff is 0).
                scores = process.cdist(
                    texts,
                    pool,
                    scorer=fuzz.ratio,
                    processor=None,
                    score_cutoff=cutoff,
                    dtype=np.float64,
                )
                best = scores.argmax(axis=1)
                for row, (column, score) in enumerate(
                    zip(best.tolist(), scores[rows, best].tolist())
                ):
                    if score >= cutoff:
                        found[block[row]] = _better(found[block[row]], columns[column], score)
        return found


def _better(found: tuple[int, float], index: int, score: float) -> tuple[int, float]:
    """The higher similarity wins; between equal ones, the earlier (more trending) choice."""
    if score > found[1] or (score == found[1] and index < found[0]):
        return index, score
    return found


# (choices, queries) -> `best` of each query: one at a time (`SoundChoices.best`) or together
# (`SoundChoices.best_many`).
SoundSearch = Callable[["SoundChoices", list[str]], list[tuple[int, float]]]
