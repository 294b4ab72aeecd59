"""Recall: field-weighted BM25 over sticker documents, dense search, and their fusion."""

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import bm25s
import numpy as np
import numpy.typing as npt

from engine.documents import FIELDS, StickerDocument
from engine.text import tokenize

Scores = npt.NDArray[np.float64]


@dataclass(frozen=True)
class Candidate:
    """A recalled sticker with its fused relevance score."""

    sticker_id: int
    score: float


class FieldBM25:
    """One BM25 index per field; a query's score is the weighted sum over fields (PerSRV)."""

    def __init__(self, docs: Sequence[StickerDocument], weights: Mapping[str, float]) -> None:
        self.ids = np.array([d.sticker_id for d in docs], dtype=np.int64)
        self._indexes: dict[str, tuple[float, bm25s.BM25]] = {}
        for name in FIELDS:
            weight = float(weights.get(name, 0.0))
            corpus = [tokenize(d.fields.get(name, "")) for d in docs]
            if weight <= 0 or not any(corpus):
                continue
            index = bm25s.BM25()
            index.index(corpus, show_progress=False)
            self._indexes[name] = (weight, index)

    def scores(self, tokens: Sequence[str]) -> Scores:
        """Weighted BM25 score of every document (aligned with `ids`)."""
        total = np.zeros(len(self.ids), dtype=np.float64)
        if not tokens:
            return total
        for weight, index in self._indexes.values():
            known = [t for t in tokens if t in index.vocab_dict]
            if known:
                total += weight * index.get_scores(known)
        return total

    def top(self, tokens: Sequence[str], k: int) -> list[tuple[int, float]]:
        """The k best-scoring (id, score) pairs with a positive score, best first."""
        scores = self.scores(tokens)
        positive = np.flatnonzero(scores > 0)
        if positive.size > k:
            positive = positive[np.argpartition(-scores[positive], k - 1)[:k]]
        order = positive[np.lexsort((self.ids[positive], -scores[positive]))]
        return [(int(self.ids[j]), float(scores[j])) for j in order]


def _minmax(pairs: Sequence[tuple[int, float]]) -> dict[int, float]:
    if not pairs:
        return {}
    values = np.array([s for _, s in pairs], dtype=np.float64)
    low, high = float(values.min()), float(values.max())
    span = high - low
    if span <= 1e-12:
        return {i: 1.0 for i, _ in pairs}
    return {i: (s - low) / span for i, s in pairs}


def fuse_weighted(
    lexical: Sequence[tuple[int, float]], dense: Sequence[tuple[int, float]], dense_weight: float
) -> list[Candidate]:
    """Weighted sum of min-max normalised scores; a list that misses an id contributes 0."""
    lex, den = _minmax(lexical), _minmax(dense)
    if not lex:
        dense_weight = 1.0
    if not den:
        dense_weight = 0.0
    fused = {
        i: (1 - dense_weight) * lex.get(i, 0.0) + dense_weight * den.get(i, 0.0)
        for i in lex.keys() | den.keys()
    }
    return _ranked(fused)


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
