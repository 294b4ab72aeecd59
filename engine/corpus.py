"""The live corpus: BM25 segments with tombstones, scored with the statistics of all of them.

A base segment holds most stickers; each change adds a small delta segment of the changed
documents and marks their old rows dead. IDF and average lengths come from the live rows of
every segment, so a sticker scores the same whether it sits in the base or in a delta, and an
updated corpus scores exactly like one built from scratch. Merging folds segments into one.
"""

import math
import threading
from collections import Counter, OrderedDict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import cached_property

import numpy as np
import numpy.typing as npt

from engine.documents import StickerDocument
from engine.segments import IndexKey, Segment, build_segment, merge_segments

TERM_CACHE_BYTES = 32 * 2**20  # scored postings kept per corpus
_NO_ROWS = (np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.float32))
# bm25s' defaults (method "lucene"), which recall has always used.
K1 = 1.5
B = 0.75
Rows = npt.NDArray[np.int64]
Values = npt.NDArray[np.float32]


@dataclass(frozen=True)
class Layer:
    """A segment and which of its rows died (their sticker changed or left) since it was built."""

    segment: Segment
    dead: npt.NDArray[np.bool_]
    live: int
    live_lengths: tuple[int, ...]  # live tokens per index

    @classmethod
    def of(cls, segment: Segment) -> "Layer":
        """A segment whose rows are all alive."""
        lengths = tuple(int(p.lengths.sum()) for p in segment.postings)
        return cls(segment, np.zeros(len(segment), dtype=bool), len(segment), lengths)

    def killed(self, rows: Rows) -> "Layer":
        """This layer with `rows` (alive ones) dead too."""
        dead = self.dead.copy()
        dead[rows] = True
        lengths = tuple(
            n - int(p.lengths[rows].sum())
            for n, p in zip(self.live_lengths, self.segment.postings, strict=True)
        )
        return Layer(self.segment, dead, self.live - len(rows), lengths)


@dataclass(frozen=True)
class Corpus:
    """Layers of segments over the same index keys; `moved` counts document-frequency changes
    per term since the first layer was built (what a vocabulary of that layer must add)."""

    keys: tuple[IndexKey, ...]
    layers: tuple[Layer, ...]
    moved: dict[str, int]

    @classmethod
    def build(cls, docs: Sequence[StickerDocument], keys: Sequence[IndexKey]) -> "Corpus":
        """One segment of `docs`."""
        return cls.of(build_segment(docs, keys), tuple(keys))

    @classmethod
    def of(cls, base: Segment, keys: tuple[IndexKey, ...]) -> "Corpus":
        """A corpus of one segment."""
        return cls(keys, (Layer.of(base),), {})

    @cached_property
    def ids(self) -> Rows:
        """Sticker id of every row of every layer, dead rows included (they score 0)."""
        parts = [layer.segment.ids for layer in self.layers]
        return np.concatenate(parts) if parts else np.zeros(0, dtype=np.int64)

    @cached_property
    def offsets(self) -> tuple[int, ...]:
        """First global row of each layer."""
        sizes = [len(layer.segment) for layer in self.layers]
        return tuple(int(x) for x in np.cumsum([0, *sizes])[:-1])

    @cached_property
    def size(self) -> int:
        """Live documents."""
        return sum(layer.live for layer in self.layers)

    @property
    def delta_size(self) -> int:
        """Live documents outside the first layer."""
        return self.size - self.layers[0].live

    def _average_length(self, index: int) -> float:
        total = sum(layer.live_lengths[index] for layer in self.layers)
        return total / self.size if self.size else 0.0

    @cached_property
    def _scored(self) -> "TermScoreCache":
        return TermScoreCache(TERM_CACHE_BYTES)

    def term_scores(self, index: int, term: str) -> tuple[Rows, Values]:
        """Global rows holding `term` in one index, and their BM25 scores (as bm25s computes).

        Kept per corpus (it never changes): queries share their common words, and the keystrokes
        of one query share all but the last.
        """
        cache = self._scored
        found = cache.get((index, term))
        if found is None:
            found = cache.put((index, term), self._term_scores(index, term))
        return found

    def _term_scores(self, index: int, term: str) -> tuple[Rows, Values]:
        rows_parts, tf_parts, length_parts = [], [], []
        for layer, offset in zip(self.layers, self.offsets, strict=True):
            postings = layer.segment.postings[index]
            rows, tf = postings.column(term)
            if len(rows) and layer.live < len(layer.segment):
                keep = ~layer.dead[rows]
                rows, tf = rows[keep], tf[keep]
            if len(rows):
                rows_parts.append(rows.astype(np.int64) + offset)
                tf_parts.append(tf)
                length_parts.append(postings.lengths[rows])
        if not rows_parts:
            return _NO_ROWS
        hits = np.concatenate(rows_parts)
        tf64 = np.concatenate(tf_parts).astype(np.float64)
        lengths = np.concatenate(length_parts).astype(np.float64)
        df, n = len(hits), self.size
        # bm25s stores IDF as float32 and each score as float32; rounding alike keeps results
        # identical to the indexes this replaced.
        idf = np.float64(np.float32(math.log(1 + (n - df + 0.5) / (df + 0.5))))
        tfc = tf64 / (K1 * ((1 - B) + B * lengths / self._average_length(index)) + tf64)
        hits.flags.writeable = False  # shared by every search of this corpus
        scores = (idf * tfc).astype(np.float32)
        scores.flags.writeable = False
        return hits, scores

    def changed(self, docs: Sequence[StickerDocument], removed: Iterable[int]) -> "Corpus":
        """The corpus with `docs` new or replaced and `removed` gone (removal wins)."""
        dropped = set(removed)
        docs = [d for d in docs if d.sticker_id not in dropped]
        gone = np.unique(np.array([*(d.sticker_id for d in docs), *dropped], dtype=np.int64))
        moved = Counter(self.moved)
        layers = []
        for layer in self.layers:
            rows = layer.segment.rows_of(gone)
            rows = rows[~layer.dead[rows]]
            if len(rows):
                for postings in layer.segment.postings:
                    moved.subtract(postings.row_frequencies(rows))
            layers.append(layer.killed(rows) if len(rows) else layer)
        if docs:
            segment = build_segment(docs, self.keys)
            for postings in segment.postings:
                moved.update(postings.counts())
            layers.append(Layer.of(segment))
        kept = [layer for n, layer in enumerate(layers) if n == 0 or layer.live]
        return Corpus(self.keys, tuple(kept), {t: c for t, c in moved.items() if c})

    def merged(self, start: int = 0) -> "Corpus":
        """The layers from `start` on folded into one segment of their live rows."""
        tail = self.layers[start:]
        if not tail or (len(tail) == 1 and tail[0].live == len(tail[0].segment)):
            return self
        parts = [(layer.segment, layer.dead) for layer in self.layers[start:]]
        merged = Layer.of(merge_segments(parts))
        moved = self.moved if start > 0 else {}
        return Corpus(self.keys, (*self.layers[:start], merged), moved)

    def base_frequencies(self) -> Counter[str]:
        """Documents per term in the first layer as built, summed over indexes."""
        counts: Counter[str] = Counter()
        for postings in self.layers[0].segment.postings:
            counts.update(postings.counts())
        return counts


class TermScoreCache:
    """Scored postings by (index, term), least recently used out past a byte budget."""

    def __init__(self, budget: int) -> None:
        self._budget = budget
        self._bytes = 0
        self._data: OrderedDict[tuple[int, str], tuple[Rows, Values]] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: tuple[int, str]) -> tuple[Rows, Values] | None:
        """The cached entry, marked as just used, or None."""
        with self._lock:
            found = self._data.get(key)
            if found is not None:
                self._data.move_to_end(key)
            return found

    def put(self, key: tuple[int, str], value: tuple[Rows, Values]) -> tuple[Rows, Values]:
        """Keep `value` (unless it alone exceeds the budget); returns it."""
        size = value[0].nbytes + value[1].nbytes + 64
        if size > self._budget:
            return value
        with self._lock:
            if key not in self._data:
                self._data[key] = value
                self._bytes += size
            while self._bytes > self._budget:
                _, (rows, values) = self._data.popitem(last=False)
                self._bytes -= rows.nbytes + values.nbytes + 64
        return value
