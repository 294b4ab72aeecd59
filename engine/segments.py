"""Immutable BM25 segments: raw term frequencies per index, built from tokens or merged.

bm25s bakes each index's IDF and average length into its score matrix, so two of its indexes
cannot be combined. A segment keeps raw term frequencies instead (a scipy CSC matrix, one column
per term, one row per sticker) and the BM25 formula is applied at query time over all segments
with the statistics of the whole live corpus (engine/corpus.py).

Fields that stickers share word for word (their emoji's keywords in every locale, their pack's
title) are indexed once per distinct text, a *shape*, with each row's shape beside: at 100k
stickers the emoji keywords alone were 12.4 million postings (96 MiB), as shapes 0.14 million.
A term's rows are then the rows of its shapes, with the same frequencies and lengths, so scores
are the same to the bit.
"""

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import cached_property

import numpy as np
import numpy.typing as npt
import scipy.sparse as sp

from engine.documents import SHARED_FIELDS, StickerDocument
from engine.text import phrase_tokens, tokenize

Ids = npt.NDArray[np.int64]
# One index of a segment: a field's words, or (phrase=True) its whole entries.
IndexKey = tuple[str, bool]


Rows = npt.NDArray[np.int32]


@dataclass(frozen=True)
class Shapes:
    """Rows grouped by the text they share: each row's shape, and the rows of each shape."""

    of_row: Rows
    rows: Rows  # rows ordered by shape
    starts: npt.NDArray[np.int64]  # where each shape's rows begin in `rows`, and the end

    @classmethod
    def of(cls, shape_of_row: npt.NDArray[np.integer], count: int) -> "Shapes":
        """The grouping of `count` shapes given each row's shape."""
        of_row = np.asarray(shape_of_row, dtype=np.int32)
        rows = np.argsort(of_row, kind="stable").astype(np.int32)
        sizes = np.bincount(of_row, minlength=count)
        return cls(of_row, rows, np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64))

    def sizes(self) -> npt.NDArray[np.int64]:
        """Rows per shape."""
        return np.diff(self.starts)

    def expand(
        self, shapes: Rows, values: npt.NDArray[np.float32]
    ) -> tuple[Rows, npt.NDArray[np.float32]]:
        """The rows of `shapes`, each with its shape's value."""
        lo, counts = self.starts[shapes], self.sizes()[shapes]
        if not len(counts):
            return _NO_ROWS, _NO_TF
        # Positions lo[k] .. lo[k] + counts[k] of every shape k, in one vectorised gather.
        skip = np.repeat(lo - np.cumsum(counts) + counts, counts)
        at = skip + np.arange(int(counts.sum()), dtype=np.int64)
        return self.rows[at], np.repeat(values, counts)


@dataclass(frozen=True)
class Postings:
    """Term frequencies of one index over a segment's rows (or over its shapes)."""

    names: tuple[str, ...]  # the term of each column
    matrix: sp.csc_array  # rows x terms (shapes x terms when shared), term frequency
    lengths: npt.NDArray[np.int32]  # tokens per row
    shapes: Shapes | None = None  # for a shared field: which shape each row has

    @cached_property
    def terms(self) -> dict[str, int]:
        """Column of each term."""
        return {t: i for i, t in enumerate(self.names)}

    @cached_property
    def by_row(self) -> sp.csr_array:
        """The same matrix row-major: which terms a row (or shape) holds (for tombstones)."""
        return self.matrix.tocsr()

    def column(self, term: str) -> tuple[Rows, npt.NDArray[np.float32]]:
        """Rows that hold `term` and its frequency in each."""
        col = self.terms.get(term)
        if col is None:
            return _NO_ROWS, _NO_TF
        indptr = self.matrix.indptr
        lo, hi = indptr[col], indptr[col + 1]
        found, tf = self.matrix.indices[lo:hi], self.matrix.data[lo:hi]
        return self.shapes.expand(found, tf) if self.shapes is not None else (found, tf)

    def frequencies(self) -> npt.NDArray[np.int64]:
        """Documents per column."""
        per_column = np.diff(self.matrix.indptr)
        if self.shapes is None:
            return np.asarray(per_column, dtype=np.int64)
        columns = np.repeat(np.arange(len(self.names)), per_column)
        rows = self.shapes.sizes()[self.matrix.indices]
        return np.bincount(columns, rows, len(self.names)).astype(np.int64)

    def counts(self) -> dict[str, int]:
        """Documents per term."""
        return dict(zip(self.names, self.frequencies().tolist(), strict=True))

    def row_frequencies(self, rows: npt.NDArray[np.int64]) -> dict[str, int]:
        """Documents per term among `rows`."""
        if not len(rows):
            return {}
        if self.shapes is None:
            cols, counts = np.unique(self.by_row[rows].indices, return_counts=True)
        else:
            shapes, per_shape = np.unique(self.shapes.of_row[rows], return_counts=True)
            held = self.by_row[shapes]
            cols, at = np.unique(held.indices, return_inverse=True)
            counts = np.bincount(at, np.repeat(per_shape, np.diff(held.indptr))).astype(np.int64)
        return {self.names[c]: int(n) for c, n in zip(cols.tolist(), counts.tolist(), strict=True)}


_NO_ROWS = np.zeros(0, dtype=np.int32)
_NO_TF = np.zeros(0, dtype=np.float32)


def build_postings(tokens: Sequence[Sequence[str]]) -> Postings:
    """Postings of one index from each row's tokens (duplicates count as term frequency)."""
    terms: dict[str, int] = {}
    cols = np.fromiter(
        (terms.setdefault(t, len(terms)) for row in tokens for t in row), dtype=np.int32
    )
    lengths = np.fromiter((len(row) for row in tokens), dtype=np.int32, count=len(tokens))
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
        shape: dict[str, int] = {}
        of_row = [shape.setdefault(d.text(key[0]), len(shape)) for d in ordered]
        distinct = build_postings([split(t) for t in shape])
        if key[0] in SHARED_FIELDS:
            postings.append(_shared(distinct, np.array(of_row, dtype=np.int32)))
        else:
            postings.append(_unshared(distinct, np.array(of_row, dtype=np.int32)))
    return Segment(ids, tuple(postings))


def _shared(distinct: Postings, of_row: Rows) -> Postings:
    shapes = Shapes.of(of_row, len(distinct.lengths))
    return Postings(distinct.names, distinct.matrix, distinct.lengths[of_row], shapes)


def _unshared(distinct: Postings, of_row: Rows) -> Postings:
    matrix = sp.csc_array(distinct.by_row[of_row])
    matrix.sort_indices()
    return Postings(distinct.names, matrix, distinct.lengths[of_row])


def merge_segments(parts: Sequence[tuple[Segment, npt.NDArray[np.bool_]]]) -> Segment:
    """One segment of the live rows (dead mask False) of several, without re-tokenising."""
    kept = [(seg, np.flatnonzero(~dead)) for seg, dead in parts]
    ids = np.concatenate([seg.ids[rows] for seg, rows in kept] or [np.zeros(0, np.int64)])
    order = np.argsort(ids, kind="stable")
    n_keys = len(parts[0][0].postings) if parts else 0
    merged = [_merge_index([(seg.postings[k], rows) for seg, rows in kept]) for k in range(n_keys)]
    return Segment(ids[order], tuple(_reorder(p, order) for p in merged))


def _merge_index(parts: Sequence[tuple[Postings, npt.NDArray[np.int64]]]) -> Postings:
    if any(p.shapes is not None for p, _ in parts):
        return _merge_shared(parts)
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


def _merge_shared(parts: Sequence[tuple[Postings, npt.NDArray[np.int64]]]) -> Postings:
    # Shapes of every part that still have live rows, one per distinct (term, frequency) set.
    keys: dict[tuple[tuple[str, float], ...], int] = {}
    of_row = []
    for postings, rows in parts:
        own = postings.shapes.of_row[rows] if postings.shapes is not None else rows
        held = postings.by_row  # a row of an unshared index is a shape of its own
        used = np.unique(own)
        remap = np.zeros(int(used[-1]) + 1 if len(used) else 0, dtype=np.int32)
        for shape in used.tolist():
            lo, hi = held.indptr[shape], held.indptr[shape + 1]
            names = (postings.names[c] for c in held.indices[lo:hi].tolist())
            key = tuple(sorted(zip(names, held.data[lo:hi].tolist(), strict=True)))
            remap[shape] = keys.setdefault(key, len(keys))
        of_row.append(remap[own])
    terms: dict[str, int] = {}
    cells = [(n, terms.setdefault(t, len(terms)), tf) for key, n in keys.items() for t, tf in key]
    shape_at = np.array([c[0] for c in cells], dtype=np.int64)
    cols = np.array([c[1] for c in cells], dtype=np.int64)
    data = np.array([c[2] for c in cells], dtype=np.float32)
    matrix = sp.csc_array((data, (shape_at, cols)), shape=(len(keys), len(terms)))
    matrix.sort_indices()
    rows_shapes = np.concatenate(of_row) if of_row else np.zeros(0, dtype=np.int32)
    lengths = np.concatenate([p.lengths[rows] for p, rows in parts]).astype(np.int32)
    return Postings(tuple(terms), matrix, lengths, Shapes.of(rows_shapes, len(keys)))


def _compact(postings: Postings) -> Postings:
    # Terms whose every posting died would linger as empty columns: drop them.
    alive = np.flatnonzero(postings.frequencies() > 0)
    if len(alive) == len(postings.names):
        return postings
    names = tuple(postings.names[c] for c in alive.tolist())
    return Postings(names, postings.matrix[:, alive], postings.lengths, postings.shapes)


def _reorder(postings: Postings, order: npt.NDArray[np.int64]) -> Postings:
    if postings.shapes is not None:
        shapes = Shapes.of(postings.shapes.of_row[order], len(postings.shapes.sizes()))
        return Postings(postings.names, postings.matrix, postings.lengths[order], shapes)
    matrix = sp.csc_array(postings.by_row[order])
    matrix.sort_indices()
    return Postings(postings.names, matrix, postings.lengths[order])
