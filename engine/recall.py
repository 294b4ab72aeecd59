"""Recall: field-weighted BM25 over sticker documents, dense search, and their fusion."""

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np
import numpy.typing as npt

from engine.corpus import Corpus
from engine.documents import FIELDS, StickerDocument
from engine.expansion import (
    Expansion,
    QueryExpander,
    TypingSettings,
    split_frequencies,
    split_vocabulary,
)
from engine.segments import IndexKey
from engine.text import normalize, phrase_token, tokenize
from engine.vocabulary import Vocabulary

Scores = npt.NDArray[np.float64]


class Candidate(NamedTuple):
    """A recalled sticker with its fused relevance score (a tuple: hundreds per search)."""

    sticker_id: int
    score: float


# Fields whose entries are whole keywords or queries: a query equal to one entry is the
# strongest evidence there is (CLDR relevance itself is "shares a keyword").
PHRASE_FIELDS = ("emoji_keywords", "vlm_keywords", "history_queries")


def index_keys(weights: Mapping[str, float], phrase_weight: float) -> list[tuple[IndexKey, float]]:
    """The indexes recall keeps, each with its weight: a field's words, and its whole entries."""
    keys: list[tuple[IndexKey, float]] = []
    for name in FIELDS:
        weight = float(weights.get(name, 0.0))
        if weight <= 0:
            continue
        keys.append(((name, False), weight))
        if name in PHRASE_FIELDS and phrase_weight > 0:
            keys.append(((name, True), weight * phrase_weight))
    return keys


@dataclass(frozen=True)
class Vocabularies:
    """The typing vocabularies (words, phrases) of a corpus' first layer as it was built."""

    words: Vocabulary
    phrases: Vocabulary

    @classmethod
    def of(cls, corpus: Corpus) -> "Vocabularies":
        """Vocabularies of the first layer's terms."""
        return cls(*split_vocabulary(corpus.base_frequencies()))

    def moved_by(self, moved: Mapping[str, int]) -> tuple[Vocabulary, Vocabulary]:
        """Both with the counts a corpus' later layers moved."""
        words, phrases = split_frequencies(moved)
        return self.words.moved_by(words), self.phrases.moved_by(phrases)


class FieldBM25:
    """One BM25 index per field; a query's score is the weighted sum over fields (PerSRV).

    Keyword-like fields get a second index of whole entries, weighted by `phrase_weight`.
    With `typing` settings, an unfinished last word and misspelt words also match, below
    exact matches (engine/expansion.py). The indexes live in segments (engine/corpus.py):
    `changed` and `merged` give updated copies at the cost of what changed.
    """

    def __init__(
        self,
        docs: Sequence[StickerDocument],
        weights: Mapping[str, float],
        phrase_weight: float = 1.0,
        typing: TypingSettings | None = None,
        *,
        corpus: Corpus | None = None,
        vocabularies: Vocabularies | None = None,
    ) -> None:
        keyed = index_keys(weights, phrase_weight)
        keys = tuple(k for k, _ in keyed)
        self._weights = [w for _, w in keyed]
        self._settings = (dict(weights), phrase_weight, typing)
        if corpus is not None and corpus.keys != keys:
            raise ValueError("the corpus was built for other fields")
        self.corpus = corpus if corpus is not None else Corpus.build(docs, keys)
        self.ids = self.corpus.ids
        self._expander: QueryExpander | None = None
        self.vocabularies = vocabularies
        if typing is not None:
            self.vocabularies = vocabularies or Vocabularies.of(self.corpus)
            words, phrases = self.vocabularies.moved_by(self.corpus.moved)
            self._expander = QueryExpander(words, phrases, typing)

    def _with(self, corpus: Corpus, vocabularies: Vocabularies | None) -> "FieldBM25":
        weights, phrase_weight, typing = self._settings
        return FieldBM25(
            [], weights, phrase_weight, typing, corpus=corpus, vocabularies=vocabularies
        )

    def changed(self, docs: Sequence[StickerDocument], removed: Iterable[int]) -> "FieldBM25":
        """These indexes with `docs` added or replaced and `removed` gone."""
        return self._with(self.corpus.changed(docs, removed), self.vocabularies)

    def merged(self, deltas_only: bool = False) -> "FieldBM25":
        """The same indexes in one segment (or the base and one delta), as if built afresh."""
        if deltas_only:
            return self._with(self.corpus.merged(1), self.vocabularies)
        return self._with(self.corpus.merged(0), None)

    def _weighted(self, terms: Mapping[str, float]) -> Scores:
        # Sums each term's BM25 postings times its weight, index by index in a fixed order:
        # one pass for any number of differently weighted stand-ins.
        total = np.zeros(len(self.ids), dtype=np.float64)
        for index, field_weight in enumerate(self._weights):
            for term, weight in terms.items():
                rows, values = self.corpus.term_scores(index, term)
                if len(rows):
                    # A term's postings name each row once, so plain fancy-index += works.
                    total[rows] += (field_weight * weight) * values
        return total

    def scores(self, text: str) -> Scores:
        """Weighted BM25 score of every document (aligned with `ids`)."""
        expansions = self._expander.expand(normalize(text)) if self._expander else []
        demoted = {t for e in expansions for t in e.demoted}
        exact = Counter(t for t in tokenize(text) if t not in demoted)
        exact[phrase_token(text)] += 1
        total = self._weighted(exact)
        for expansion in expansions:
            total += self._stand_in_scores(expansion)
        return total

    def settled(self, text: str) -> str:
        """The normalised query without a last word still being typed (for dense recall)."""
        norm = normalize(text)
        return self._expander.settled(norm) if self._expander else norm

    def _stand_in_scores(self, expansion: Expansion) -> Scores:
        stand_in = self._weighted(expansion.terms)
        if not stand_in.any():
            return stand_in
        own = self._weighted(dict.fromkeys(expansion.own, 1.0))
        exact = own > 0
        if exact.any():
            # Stand-ins only fill in below the word's exact matches: they leave the order of
            # exact matches alone and stay under the weakest of them.
            stand_in[exact] = 0.0
            top = float(stand_in.max())
            if top > 0:
                ceiling = max(expansion.terms.values()) * float(own[exact].min())
                stand_in *= min(1.0, ceiling / top)
        return stand_in

    def top(self, text: str, k: int) -> list[tuple[int, float]]:
        """The k best-scoring (id, score) pairs with a positive score, best first, ties by id."""
        scores = self.scores(text)
        positive = np.flatnonzero(scores > 0)
        if len(positive) > k > 0:
            # Only the best k need sorting: keep every row scoring at least the k-th best
            # (ties at the cut included, so ties still break by id) and sort those.
            values = scores[positive]
            cut = np.partition(values, len(values) - k)[len(values) - k]
            positive = positive[values >= cut]
        order = positive[np.lexsort((self.ids[positive], -scores[positive]))][:k]
        return [(int(self.ids[j]), float(scores[j])) for j in order]


def _minmax(values: Scores) -> Scores:
    if not len(values):
        return values
    low, high = float(values.min()), float(values.max())
    span = high - low
    if span <= 1e-12:
        return np.ones(len(values))
    return (values - low) / span


def _by_max(values: Scores) -> Scores:
    top = float(values.max()) if len(values) else 0.0
    return values / top if top > 0 else values[:0]


def _pairs(pairs: Sequence[tuple[int, float]]) -> tuple[npt.NDArray[np.int64], Scores]:
    ids = np.fromiter((i for i, _ in pairs), dtype=np.int64, count=len(pairs))
    return ids, np.fromiter((s for _, s in pairs), dtype=np.float64, count=len(pairs))


def fuse_weighted(
    lexical: Sequence[tuple[int, float]], dense: Sequence[tuple[int, float]], dense_weight: float
) -> list[Candidate]:
    """Weighted sum of normalised scores; a list that misses an id contributes 0.

    BM25 scores are divided by the best one (not min-max): the weakest lexical match keeps a
    positive score and so stays above candidates that only dense recall found.
    """
    lex_ids, lex = _pairs(lexical)
    den_ids, den = _pairs(dense)
    lex, den = _by_max(lex), _minmax(den)
    lex_ids = lex_ids[: len(lex)]
    if not len(lex):
        dense_weight = 1.0
    if not len(den):
        dense_weight = 0.0
    # Each list names an id once: spread both over their union, 0 where a list misses it.
    ids, at = np.unique(np.concatenate([lex_ids, den_ids]), return_inverse=True)
    lex_all, den_all = np.zeros(len(ids)), np.zeros(len(ids))
    lex_all[at[: len(lex_ids)]] = lex
    den_all[at[len(lex_ids) :]] = den
    fused = (1 - dense_weight) * lex_all + dense_weight * den_all
    order = np.lexsort((ids, -fused))
    return list(map(Candidate, ids[order].tolist(), fused[order].tolist()))


def fuse_rrf(
    lexical: Sequence[tuple[int, float]], dense: Sequence[tuple[int, float]], k: int = 60
) -> list[Candidate]:
    """Reciprocal rank fusion of the two ranked lists."""
    fused: dict[int, float] = {}
    for ranked in (lexical, dense):
        for rank, (i, _) in enumerate(ranked):
            fused[i] = fused.get(i, 0.0) + 1.0 / (k + rank + 1)
    return _ranked(fused)


def _ranked(scores: Mapping[int, float]) -> list[Candidate]:
    # Ties break on id so the same library always ranks the same way.
    return [Candidate(i, s) for i, s in sorted(scores.items(), key=lambda kv: (-kv[1], kv[0]))]
