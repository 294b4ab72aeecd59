"""Query completions from the library's own vocabulary, for autocomplete as people type.

Phrases come from what stickers already say: lexicon keywords in the configured locales, VLM
keywords, learned history queries, pack names and titles, file-name words. A completion is
ranked by how useful it is: the user's own past queries first, then how often the crowd chose
stickers for it and how many stickers stand behind it.
"""

import bisect
import heapq
import math
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from functools import lru_cache

from engine.documents import StickerDocument
from engine.text import normalize
from engine.types import Suggestion

# Fields whose entries are whole keywords, queries or names (not running text like OCR).
SUGGEST_FIELDS = (
    "emoji_keywords",
    "vlm_keywords",
    "vlm_emotion",
    "history_queries",
    "pack_title",
    "pack_name",
    "file_name",
)
ENTRY_SEPARATOR = " ; "
MAX_PHRASE_CHARS = 100  # Discord's longest autocomplete choice
CHOSEN_WEIGHT = 2.0  # one pick by the crowd says more than one more sticker behind a phrase
TIERS = ("exact", "prefix", "word")  # how a phrase matches what was typed, best first
CACHED_PREFIXES = 4096


@lru_cache(maxsize=65536)
def _phrase(entry: str) -> str:
    return normalize(entry)


def _phrases(fields: tuple[str, ...]) -> set[str]:
    found: set[str] = set()
    for text in fields:
        for entry in text.split(ENTRY_SEPARATOR):
            phrase = _phrase(entry)
            if 1 < len(phrase) <= MAX_PHRASE_CHARS:
                found.add(phrase)
    return found


def sticker_counts(docs: Sequence[StickerDocument]) -> Counter[str]:
    """How many stickers each phrase describes."""
    # Stickers of one emoji without annotations share their whole document: expand each
    # distinct document once.
    shapes = Counter(tuple(d.text(f) for f in SUGGEST_FIELDS) for d in docs)
    counts: Counter[str] = Counter()
    for fields, n in shapes.items():
        for phrase in _phrases(fields):
            counts[phrase] += n
    return counts


class Vocabulary:
    """Every phrase of the library, sorted for prefix lookups, with its usefulness."""

    def __init__(self, stickers: Mapping[str, int], chosen: Mapping[str, int]) -> None:
        self._stickers = dict(stickers)
        self._chosen = {p: n for p, n in chosen.items() if p in self._stickers}
        self._phrases = sorted(self._stickers)
        # (word, phrase) for every later word of a phrase: "cat" completes "grinning cat" too.
        self._inner = sorted(
            (word, phrase) for phrase in self._phrases for word in phrase.split()[1:]
        )
        self._cached = lru_cache(maxsize=CACHED_PREFIXES)(self._best)

    def __len__(self) -> int:
        return len(self._phrases)

    def score(self, phrase: str) -> float:
        """Usefulness of a phrase: stickers behind it and crowd picks, both log-damped."""
        chosen = self._chosen.get(phrase, 0)
        return math.log1p(self._stickers.get(phrase, 0)) + CHOSEN_WEIGHT * math.log1p(chosen)

    def suggestion(self, phrase: str, own: bool = False) -> Suggestion:
        """A phrase with its counts."""
        return Suggestion(phrase, self._stickers.get(phrase, 0), self._chosen.get(phrase, 0), own)

    def complete(self, text: str, limit: int) -> list[Suggestion]:
        """The best `limit` phrases completing normalised `text` (the most useful if empty)."""
        return [self.suggestion(p) for p in self._cached(text, limit)]

    def _best(self, text: str, limit: int) -> tuple[str, ...]:
        if not text:
            return tuple(heapq.nlargest(limit, self._phrases, key=self.score))
        ranked: list[str] = []
        for tier in TIERS:
            if len(ranked) >= limit:
                break
            found = [p for p in self._matches(text, tier) if p not in ranked]
            ranked += heapq.nlargest(limit - len(ranked), found, key=self.score)
        return tuple(ranked)

    def _matches(self, text: str, tier: str) -> Iterable[str]:
        if tier == "exact":
            return [text] if text in self._stickers else []
        if tier == "prefix":
            return _prefixed(self._phrases, text)
        if " " in text:
            return []
        start = bisect.bisect_left(self._inner, (text, ""))
        end = bisect.bisect_left(self._inner, (text + "\U0010ffff", ""))
        return (phrase for _, phrase in self._inner[start:end])


def _prefixed(phrases: Sequence[str], text: str) -> list[str]:
    start = bisect.bisect_left(phrases, text)
    end = bisect.bisect_left(phrases, text + "\U0010ffff")
    return [p for p in phrases[start:end] if p != text]


def suggest(
    vocabulary: Vocabulary, own: Mapping[str, int], text: str, limit: int
) -> list[Suggestion]:
    """The user's own past queries that complete `text` first, then the vocabulary's best."""
    typed = normalize(text)
    mine = sorted(
        (q for q in own if q.startswith(typed) or any(w.startswith(typed) for w in q.split())),
        key=lambda q: (-own[q], q),
    )[:limit]
    out = [vocabulary.suggestion(q, own=True) for q in mine]
    taken = set(mine)
    for s in vocabulary.complete(typed, limit + len(taken)):
        if len(out) >= limit:
            break
        if s.text not in taken:
            out.append(s)
    return out
