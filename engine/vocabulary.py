"""Sorted index vocabularies: completions of a word being typed and words one typo away.

Every look-up is a bisect into a sorted list plus work on the matching slice only, so its cost
follows the number of candidate terms, not the size of the library. Edit distances are
rapidfuzz's OSA (optimal string alignment: insertion, deletion, substitution, transposition).
"""

import bisect
import heapq
from collections.abc import Iterable, Mapping

from rapidfuzz import process
from rapidfuzz.distance import OSA

_LAST_CHAR = "\U0010ffff"


def _extending(ordered: list[str], prefix: str) -> list[str]:
    lo = bisect.bisect_left(ordered, prefix)
    return ordered[lo : bisect.bisect_left(ordered, prefix + _LAST_CHAR, lo)]


def _one_edit(word: str, choices: Iterable[str]) -> list[str]:
    hits = process.extract(word, list(choices), scorer=OSA.distance, score_cutoff=1, limit=None)
    return [choice for choice, _, _ in hits]


class Vocabulary:
    """Distinct terms in sorted order, with how many documents hold each."""

    def __init__(self, frequencies: Mapping[str, int]) -> None:
        self._df = dict(frequencies)
        self._terms = sorted(self._df)
        self._backwards = sorted(t[::-1] for t in self._terms)

    def __contains__(self, term: object) -> bool:
        return term in self._df

    def __len__(self) -> int:
        return len(self._terms)

    def frequency(self, term: str) -> int:
        """How many documents hold `term` (0 when none)."""
        return self._df.get(term, 0)

    def most_frequent(self, terms: Iterable[str], limit: int) -> list[str]:
        """At most `limit` of the terms, most documents first, ties alphabetical."""
        return heapq.nsmallest(limit, set(terms), key=lambda t: (-self._df.get(t, 0), t))

    def completions(self, prefix: str, limit: int) -> list[str]:
        """The `limit` most frequent terms that are longer than `prefix` and start with it."""
        longer = (t for t in _extending(self._terms, prefix) if t != prefix)
        return self.most_frequent(longer, limit)

    def corrections(self, word: str, min_length: int, limit: int) -> list[str]:
        """The `limit` most frequent terms of at least `min_length` one edit from `word`."""
        # One edit spans at most two adjacent letters, so it leaves either the first `head`
        # letters or the last `tail` ones intact: both bisect ranges together hold every answer.
        head = (len(word) - 1) // 2
        tail = len(word) - 1 - head
        if head < 1:
            return []
        pool = set(_extending(self._terms, word[:head]))
        pool.update(t[::-1] for t in _extending(self._backwards, word[::-1][:tail]))
        near = (t for t in pool if len(t) >= min_length and abs(len(t) - len(word)) <= 1)
        return self.most_frequent(_one_edit(word, (t for t in near if t != word)), limit)

    def fuzzy_completions(self, prefix: str, limit: int) -> list[str]:
        """The `limit` most frequent terms whose start is one edit from `prefix`.

        Only typos after the first half of the prefix are found: the first half picks the bisect
        range, which keeps this cheap.
        """
        head = (len(prefix) - 1) // 2
        if head < 1:
            return []
        pool = [t for t in _extending(self._terms, prefix[:head]) if len(t) >= len(prefix)]
        # The typed prefix may be a letter shorter or longer than the start it was meant to be.
        sizes = (len(prefix) - 1, len(prefix), len(prefix) + 1)
        starts = set(_one_edit(prefix, {t[:n] for t in pool for n in sizes}))
        return self.most_frequent((t for t in pool if any(t[:n] in starts for n in sizes)), limit)
