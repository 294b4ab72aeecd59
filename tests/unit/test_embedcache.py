"""The query-embedding LRU in front of the text embedder."""

from collections.abc import Sequence

import numpy as np
import pytest

from engine.embedcache import QueryEmbeddingCache
from engine.embedding import Vectors


class CountingEmbedder:
    """A fake embedder that records every text it embeds."""

    name = identity = "counting"
    min_similarity = 0.0
    dense_weight = 0.2

    def __init__(self) -> None:
        self.calls: list[str] = []

    def embed_queries(self, texts: Sequence[str]) -> Vectors:
        self.calls.extend(texts)
        return np.array([[float(len(t)), 1.0] for t in texts], dtype=np.float32)

    def embed_documents(self, texts: Sequence[str]) -> Vectors:
        raise AssertionError("the query cache embeds queries only")


def test_a_repeated_query_is_embedded_once() -> None:
    embedder = CountingEmbedder()
    cache = QueryEmbeddingCache(embedder, size=8)
    first = cache.vector("happy")
    again = cache.vector("happy")
    assert embedder.calls == ["happy"]
    assert again is first
    assert (cache.hits, cache.misses, cache.hit_rate) == (1, 1, 0.5)


def test_the_key_is_the_normalised_text() -> None:
    embedder = CountingEmbedder()
    cache = QueryEmbeddingCache(embedder, size=8)
    cache.vector("Happy  Cat")
    cache.vector("happy cat ")
    assert embedder.calls == ["happy cat"]


def test_least_recently_used_is_evicted() -> None:
    embedder = CountingEmbedder()
    cache = QueryEmbeddingCache(embedder, size=2)
    for text in ("a", "b", "a", "c", "a", "b"):
        cache.vector(text)
    # "b" was the least recently used when "c" came in, so it is embedded again.
    assert embedder.calls == ["a", "b", "c", "b"]
    assert len(cache) == 2


def test_cached_vectors_are_read_only() -> None:
    cache = QueryEmbeddingCache(CountingEmbedder(), size=2)
    with pytest.raises(ValueError, match="read-only"):
        cache.vector("cat")[0] = 0.0


def test_hit_rate_before_any_lookup() -> None:
    assert QueryEmbeddingCache(CountingEmbedder(), size=2).hit_rate == 0.0
