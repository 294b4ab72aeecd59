"""Sorted index vocabularies: completions of a word being typed and words one typo away.

Every look-up is a bisect into a sorted list plus work on the matching slice only, so its cost
follows the number of candidate terms, not the size of the library. Edit distances are
rapidfuzz's OSA (optimal string alignment: insertion, deletion, substitution, transposition).
"""

import bisect
import heapq
from collections import OrderedDict, defaultdict
from collections.abc import Callable, Iterable, Mapping

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

    def __init__(self, frequencies: Mapping[str, int], cache_size: int = 4096) -> None:
        self._df = dict(frequencies)
        self._terms = sorted(self._df)
        # Per length, forwards and backwards: a typo changes the length by one at most, so
        # corrections search three small buckets instead of the whole vocabulary.
        by_length: dict[int, list[str]] = defaultdict(list)
        for term in self._terms:
            by_length[len(term)].append(term)
        self._buckets = {n: (ts, sorted(t[::-1] for t in ts)) for n, ts in by_length.items()}
        # People type the same prefixes again and again: look-ups are memoised per vocabulary.
        self._memo: OrderedDict[tuple[str, str, int, int], tuple[str, ...]] = OrderedDict()
        self._memo_size = cache_size

    def __contains__(self, term: object) -> bool:
        return term in self._df

    def __len__(self) -> int:
        return len(self._terms)

    def frequency(self, term: str) -> int:
        """How many documents hold `term` (0 when none)."""
        return self._df.get(term, 0)

    def most_frequent(self, terms: Iterable[str], limit: int) -> tuple[str, ...]:
        """At most `limit` of the terms, most documents first, ties alphabetical."""
        return tuple(heapq.nsmallest(limit, set(terms), key=lambda t: (-self._df.get(t, 0), t)))

    def _remembered(
        self, key: tuple[str, str, int, int], compute: Callable[[], tuple[str, ...]]
    ) -> tuple[str, ...]:
        found = self._memo.get(key)
        if found is None:
            found = self._memo[key] = compute()
            if len(self._memo) > self._memo_size:
                self._memo.popitem(last=False)
        return found

    def completions(self, prefix: str, limit: int) -> tuple[str, ...]:
        """The `limit` most frequent terms that are longer than `prefix` and start with it."""

        def compute() -> tuple[str, ...]:
            longer = (t for t in _extending(self._terms, prefix) if t != prefix)
            return self.most_frequent(longer, limit)

        return self._remembered(("complete", prefix, limit, 0), compute)

    def corrections(self, word: str, min_length: int, limit: int) -> tuple[str, ...]:
        """The `limit` most frequent terms of at least `min_length` one edit from `word`."""
        key = ("correct", word, min_length, limit)
        return self._remembered(key, lambda: self._corrections(word, min_length, limit))

    def _corrections(self, word: str, min_length: int, limit: int) -> tuple[str, ...]:
        # One edit spans at most two adjacent letters, so it leaves either the first `head`
        # letters or the last `tail` ones intact: both bisect ranges together hold every answer.
        head = (len(word) - 1) // 2
        tail = len(word) - 1 - head
        if head < 1:
            return ()
        pool: set[str] = set()
        for n in range(max(min_length, len(word) - 1), len(word) + 2):
            forwards, backwards = self._buckets.get(n, ([], []))
            pool.update(_extending(forwards, word[:head]))
            pool.update(t[::-1] for t in _extending(backwards, word[::-1][:tail]))
        pool.discard(word)
        return self.most_frequent(_one_edit(word, pool), limit)

    def fuzzy_completions(self, prefix: str, limit: int) -> tuple[str, ...]:
        """The `limit` most frequent terms whose start is one edit from `prefix`.

        Only typos after the first half of the prefix are found: the first half picks the bisect
        range, which keeps this cheap.
        """
        key = ("fuzzy", prefix, limit, 0)
        return self._remembered(key, lambda: self._fuzzy_completions(prefix, limit))

    def _fuzzy_completions(self, prefix: str, limit: int) -> tuple[str, ...]:
        head = (len(prefix) - 1) // 2
        if head < 1:
            return ()
        pool = [t for t in _extending(self._terms, prefix[:head]) if len(t) >= len(prefix)]
        # The typed prefix may be a letter shorter or longer than the start it was meant to be.
        sizes = (len(prefix) - 1, len(prefix), len(prefix) + 1)
        starts = _one_edit(prefix, {t[:n] for t in pool for n in sizes})
        return self.most_frequent((t for s in starts for t in _extending(pool, s)), limit)
