"""Immutable BM25 segments: raw term frequencies per index, built from tokens or merged.

bm25s bakes each index's IDF and average length into its score matrix, so two of its indexes
cannot be combined. A segment keeps raw term frequencies instead (a scipy CSC matrix, one column
per term, one row per sticker) and the BM25 formula is applied at query time over all segments
with the statistics of the whole live corpus (engine/corpus.py).
"""

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import cached_property

import numpy as np
import numpy.typing as npt
import scipy.sparse as sp

from engine.documents import StickerDocument
from engine.text import phrase_tokens, tokenize

Ids = npt.NDArray[np.int64]
# One index of a segment: a field's words, or (phrase=True) its whole entries.
IndexKey = tuple[str, bool]


@dataclass(frozen=True)
class Postings:
    """Term frequencies of one index over a segment's rows."""

    names: tuple[str, ...]  # the term of each column
    matrix: sp.csc_array  # rows x terms, term frequency
    lengths: npt.NDArray[np.int64]  # tokens per row

    @cached_property
    def terms(self) -> dict[str, int]:
        """Column of each term."""
        return {t: i for i, t in enumerate(self.names)}

    @cached_property
    def by_row(self) -> sp.csr_array:
        """The same matrix row-major: which terms a row holds (for tombstones)."""
        return self.matrix.tocsr()

    def column(self, term: str) -> tuple[npt.NDArray[np.int32], npt.NDArray[np.float32]]:
        """Rows that hold `term` and its frequency in each."""
        col = self.terms.get(term)
        if col is None:
            return _NO_ROWS, _NO_TF
        indptr = self.matrix.indptr
        lo, hi = indptr[col], indptr[col + 1]
        return self.matrix.indices[lo:hi], self.matrix.data[lo:hi]

    def frequencies(self) -> npt.NDArray[np.int64]:
        """Documents per column."""
        return np.asarray(np.diff(self.matrix.indptr), dtype=np.int64)

    def counts(self) -> dict[str, int]:
        """Documents per term."""
        return dict(zip(self.names, self.frequencies().tolist(), strict=True))

    def row_frequencies(self, rows: npt.NDArray[np.int64]) -> dict[str, int]:
        """Documents per term among `rows`."""
        if not len(rows):
            return {}
        cols, counts = np.unique(self.by_row[rows].indices, return_counts=True)
        return {self.names[c]: int(n) for c, n in zip(cols.tolist(), counts.tolist(), strict=True)}


_NO_ROWS = np.zeros(0, dtype=np.int32)
_NO_TF = np.zeros(0, dtype=np.float32)


def build_postings(tokens: Sequence[Sequence[str]]) -> Postings:
    """Postings of one index from each row's tokens (duplicates count as term frequency)."""
    terms: dict[str, int] = {}
    cols = np.fromiter(
        (terms.setdefault(t, len(terms)) for row in tokens for t in row), dtype=np.int32
    )
    lengths = np.fromiter((len(row) for row in tokens), dtype=np.int64, count=len(tokens))
    rows = np.repeat(np.arange(len(tokens), dtype=np.int32), lengths)
    data = np.ones(len(cols), dtype=np.float32)
    # COO -> CSC sums the duplicates: each entry becomes the term's frequency in the row.
    matrix = sp.csc_array((data, (rows, cols)), shape=(len(tokens), len(terms)))
    matrix.sum_duplicates()
    return Postings(tuple(terms), matrix, lengths)


@dataclass(frozen=True)
class Segment:
    """Postings of every index over a set of stickers, rows sorted by sticker id."""

    ids: Ids
    postings: tuple[Postings, ...]  # one per index key, in the corpus' order

    def __len__(self) -> int:
        return len(self.ids)

    def rows_of(self, ids: Ids) -> Ids:
        """Rows of those `ids` that this segment holds."""
        at = np.searchsorted(self.ids, ids)
        inside = at < len(self.ids)
        at, ids = at[inside], ids[inside]
        return np.asarray(at[self.ids[at] == ids], dtype=np.int64)


def _index_tokens(key: IndexKey) -> Callable[[str], list[str]]:
    return phrase_tokens if key[1] else tokenize


def build_segment(docs: Sequence[StickerDocument], keys: Sequence[IndexKey]) -> Segment:
    """A segment of `docs` (any order) with one index per key."""
    ordered = sorted(docs, key=lambda d: d.sticker_id)
    ids = np.array([d.sticker_id for d in ordered], dtype=np.int64)
    postings = []
    for key in keys:
        split = _index_tokens(key)
        # Stickers of one emoji share most fields: tokenise each distinct text once.
        seen: dict[str, list[str]] = {}
        texts = [d.fields.get(key[0], "") for d in ordered]
        tokens = [seen[t] if t in seen else seen.setdefault(t, split(t)) for t in texts]
        postings.append(build_postings(tokens))
    return Segment(ids, tuple(postings))


def merge_segments(parts: Sequence[tuple[Segment, npt.NDArray[np.bool_]]]) -> Segment:
    """One segment of the live rows (dead mask False) of several, without re-tokenising."""
    kept = [(seg, np.flatnonzero(~dead)) for seg, dead in parts]
    ids = np.concatenate([seg.ids[rows] for seg, rows in kept] or [np.zeros(0, np.int64)])
    order = np.argsort(ids, kind="stable")
    n_keys = len(parts[0][0].postings) if parts else 0
    merged = [_merge_index([(seg.postings[k], rows) for seg, rows in kept]) for k in range(n_keys)]
    return Segment(ids[order], tuple(_reorder(p, order) for p in merged))


def _merge_index(parts: Sequence[tuple[Postings, npt.NDArray[np.int64]]]) -> Postings:
    terms: dict[str, int] = {}
    blocks = []
    for postings, rows in parts:
        # Each part's columns move to the merged vocabulary's columns.
        remap = np.array([terms.setdefault(t, len(terms)) for t in postings.names], dtype=np.int64)
        coo = postings.by_row[rows].tocoo()
        blocks.append((coo.row, remap[coo.col] if len(remap) else coo.col, coo.data, len(rows)))
    offsets = np.cumsum([0] + [b[3] for b in blocks])
    rows_all = np.concatenate([b[0] + off for b, off in zip(blocks, offsets, strict=False)])
    cols_all = np.concatenate([b[1] for b in blocks])
    data_all = np.concatenate([b[2] for b in blocks]).astype(np.float32)
    shape = (int(offsets[-1]), len(terms))
    matrix = sp.csc_array((data_all, (rows_all, cols_all)), shape=shape)
    lengths = np.concatenate([p.lengths[rows] for p, rows in parts])
    return _compact(Postings(tuple(terms), matrix, lengths))


def _compact(postings: Postings) -> Postings:
    # Terms whose every posting died would linger as empty columns: drop them.
    alive = np.flatnonzero(postings.frequencies() > 0)
    if len(alive) == len(postings.names):
        return postings
    names = tuple(postings.names[c] for c in alive.tolist())
    return Postings(names, postings.matrix[:, alive], postings.lengths)


def _reorder(postings: Postings, order: npt.NDArray[np.int64]) -> Postings:
    matrix = sp.csc_array(postings.by_row[order])
    matrix.sort_indices()
    return Postings(postings.names, matrix, postings.lengths[order])
