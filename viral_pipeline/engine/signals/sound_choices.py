"""The trending sounds' names as fuzzy-search choices: the best match of one query, or of many.

Similarity is max(``fuzz.ratio``, ``fuzz.token_sort_ratio``) on normalised texts (why these two:
`viral_pipeline.engine.signals.trends_match`). The best choice is the one of highest similarity at or above
the cutoff; between equal similarities the earlier choice (the more trending sound) wins.

**One query** (`SoundChoices.best`, a prediction run scores one request): every choice is scored
by ``rapidfuzz.process.extractOne``, once with ``ratio`` on the texts and once on their words
sorted (``token_sort_ratio`` of normalised texts). Against 2,000 sounds that takes well under a
millisecond and needs no index, so a fresh `predict` run pays nothing before its first search.

**Many queries** (`SoundChoices.best_many`, for batches): the queries are sorted by length and cut
into blocks of `BLOCK`; each block is scored against every choice in its length window at once by
``rapidfuzz.process.cdist``, which compares several queries per SIMD instruction (about 7 us per
query and scorer against 2,000 choices). A choice outside the window cannot reach the cutoff, so
this is exactly the one-query answer, which the tests check.

Answers are memoised per choice set (at most `CACHE_SIZE` of each kind, then a memo starts over);
both paths share the memo.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections.abc import Callable, Sequence

import numpy as np
from rapidfuzz import fuzz, process

CACHE_SIZE = 100_000
BLOCK = 256  # queries per cdist call: large enough to fill SIMD lanes, small enough for a narrow length window

NOT_FOUND: tuple[int, float] = (-1, 0.0)


def remember(memo: dict, key: object, value: object) -> None:
    """memo[key] = value, the memo starting over once it holds `CACHE_SIZE` answers."""
    if len(memo) >= CACHE_SIZE:
        memo.clear()
    memo[key] = value


def _sort_words(text: str) -> str:
    return " ".join(sorted(text.split()))


class SoundChoices:
    """Normalised texts: exact lookup, then ratio and token_sort_ratio over every choice."""

    def __init__(self, texts: list[str]) -> None:
        self.texts = texts
        self._sorted = [_sort_words(text) for text in texts]
        self._exact: dict[str, int] = {}
        for i, text in enumerate(texts):
            self._exact.setdefault(text, i)  # the first, i.e. the best trend score, wins a tie
        self._by_length = sorted(range(len(texts)), key=lambda i: len(texts[i]))
        self._sorted_lengths = [len(texts[i]) for i in self._by_length]
        self._memo: dict[tuple[str, float], tuple[int, float]] = {}

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

    def best(self, query: str, cutoff: float) -> tuple[int, float]:
        """(index, similarity) of the best choice at or above `cutoff`, or (-1, 0.0)."""
        found = self._without_search(query) or self._memo.get((query, cutoff))
        if found is None:
            found = self._scan(query, cutoff)
            remember(self._memo, (query, cutoff), found)
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

    def _scan(self, query: str, cutoff: float) -> tuple[int, float]:
        """Every choice scored: ratio on the texts, then on their words sorted."""
        found = NOT_FOUND
        for text, pool in ((query, self.texts), (_sort_words(query), self._sorted)):
            # extractOne keeps the first of equal scores, i.e. the more trending sound.
            match = process.extractOne(
                text, pool, scorer=fuzz.ratio, processor=None, score_cutoff=cutoff
            )
            if match is not None:
                found = _better(found, match[2], float(match[1]))
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
