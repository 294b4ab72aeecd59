"""An LRU of query embeddings: a query typed again, by anyone, is never embedded twice."""

import threading
from collections import OrderedDict

import numpy as np
import numpy.typing as npt

from engine.embedding import TextEmbedder
from engine.text import normalize

Vector = npt.NDArray[np.float32]


class QueryEmbeddingCache:
    """Query vectors keyed on the normalised text, in front of a text embedder.

    Queries arrive at every pause while people type, and many users type the same few words,
    so prefixes such as `ha` and `hap` repeat across users; the page cache is per user and
    cannot serve them. Embedding one query costs milliseconds of model time, a hit microseconds.
    """

    def __init__(self, embedder: TextEmbedder, size: int) -> None:
        self._embedder = embedder
        self._size = size
        self._data: OrderedDict[str, Vector] = OrderedDict()
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    def vector(self, text: str) -> Vector:
        """The embedding of `text`, from the cache when it was embedded before."""
        key = normalize(text)
        with self._lock:
            cached = self._data.get(key)
            if cached is not None:
                self._data.move_to_end(key)
                self.hits += 1
                return cached
            self.misses += 1
        vector: Vector = self._embedder.embed_queries([key])[0]
        vector.flags.writeable = False  # shared by every caller: nobody may change it
        with self._lock:
            self._data[key] = vector
            while len(self._data) > self._size:
                self._data.popitem(last=False)
        return vector

    @property
    def hit_rate(self) -> float:
        """Share of look-ups served from the cache (0 before the first)."""
        total = self.hits + self.misses
        return self.hits / total if total else 0.0

    def __len__(self) -> int:
        return len(self._data)
