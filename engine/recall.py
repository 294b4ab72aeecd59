"""Recall: field-weighted BM25 over sticker documents, dense search, and their fusion."""

from collections import Counter, defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import bm25s
import numpy as np
import numpy.typing as npt

from engine.documents import FIELDS, StickerDocument
from engine.expansion import Expansion, QueryExpander, TypingSettings, split_vocabulary
from engine.text import normalize, phrase_token, phrase_tokens, tokenize

Scores = npt.NDArray[np.float64]


@dataclass(frozen=True)
class Candidate:
    """A recalled sticker with its fused relevance score."""

    sticker_id: int
    score: float


# Fields whose entries are whole keywords or queries: a query equal to one entry is the
# strongest evidence there is (CLDR relevance itself is "shares a keyword").
PHRASE_FIELDS = ("emoji_keywords", "vlm_keywords", "history_queries")


def _index(corpus: list[list[str]]) -> bm25s.BM25 | None:
    if not any(corpus):
        return None
    index = bm25s.BM25()
    index.index(corpus, show_progress=False)
    return index


class FieldBM25:
    """One BM25 index per field; a query's score is the weighted sum over fields (PerSRV).

    Keyword-like fields get a second index of whole entries, weighted by `phrase_weight`.
    With `typing` settings, an unfinished last word and misspelt words also match, below
    exact matches (engine/expansion.py).
    """

    def __init__(
        self,
        docs: Sequence[StickerDocument],
        weights: Mapping[str, float],
        phrase_weight: float = 1.0,
        typing: TypingSettings | None = None,
    ) -> None:
        self.ids = np.array([d.sticker_id for d in docs], dtype=np.int64)
        # Word and phrase tokens never collide (phrases start with "="), so every index can be
        # handed one token list and keep the tokens it knows.
        self._indexes: list[tuple[float, bm25s.BM25]] = []
        for name in FIELDS:
            weight = float(weights.get(name, 0.0))
            if weight <= 0:
                continue
            texts = [d.fields.get(name, "") for d in docs]
            word_index = _index([tokenize(t) for t in texts])
            if word_index is not None:
                self._indexes.append((weight, word_index))
            phrase_index = (
                _index([phrase_tokens(t) for t in texts]) if name in PHRASE_FIELDS else None
            )
            if phrase_index is not None and phrase_weight > 0:
                self._indexes.append((weight * phrase_weight, phrase_index))
        self._expander: QueryExpander | None = None
        if typing is not None:
            self._expander = QueryExpander(*split_vocabulary(self._frequencies()), typing)

    def _frequencies(self) -> dict[str, int]:
        # Documents per term, summed over the fields: ranks completions by how common they are.
        counts: dict[str, int] = defaultdict(int)
        for _, index in self._indexes:
            per_id = np.diff(index.scores["indptr"]).tolist()
            for token, tid in index.vocab_dict.items():
                if tid < len(per_id):  # bm25s adds an empty token with no postings
                    counts[token] += per_id[tid]
        return counts

    def _weighted(self, terms: Mapping[str, float]) -> Scores:
        # Sums each term's precomputed BM25 postings (bm25s' sparse score matrix, one column per
        # term) times its weight: one pass for any number of differently weighted stand-ins.
        total = np.zeros(len(self.ids), dtype=np.float64)
        for field_weight, index in self._indexes:
            matrix = index.scores
            indptr, docs, values = matrix["indptr"], matrix["indices"], matrix["data"]
            for term, weight in terms.items():
                tid = index.vocab_dict.get(term)
                if tid is not None and tid < len(indptr) - 1:
                    lo, hi = indptr[tid], indptr[tid + 1]
                    # A term's postings name each document once, so plain fancy-index += works.
                    total[docs[lo:hi]] += (field_weight * weight) * values[lo:hi]
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
        order = positive[np.lexsort((self.ids[positive], -scores[positive]))][:k]
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


def _by_max(pairs: Sequence[tuple[int, float]]) -> dict[int, float]:
    top = max((s for _, s in pairs), default=0.0)
    return {i: s / top for i, s in pairs} if top > 0 else {}


def fuse_weighted(
    lexical: Sequence[tuple[int, float]], dense: Sequence[tuple[int, float]], dense_weight: float
) -> list[Candidate]:
    """Weighted sum of normalised scores; a list that misses an id contributes 0.

    BM25 scores are divided by the best one (not min-max): the weakest lexical match keeps a
    positive score and so stays above candidates that only dense recall found.
    """
    lex, den = _by_max(lexical), _minmax(dense)
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
