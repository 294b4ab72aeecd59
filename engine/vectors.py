"""Vector indexes: Chroma (embedded or server) and an in-memory one, behind one interface."""

from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from engine.embedding import Vectors
from engine.imaging import unit_rows
from engine.settings import VectorSettings
from engine.traffic import SearchTraffic

GET_CHUNK = 5000  # ids per Chroma get (SQLite allows 32,766 variables per statement)
# Vectors per write while searches are being served: 12-20 ms of a held GIL in a collection of
# 50k-1M vectors (0.75-1.2 ms a vector, measured with a thread spinning beside the upsert).
WRITE_SLICE = 16
PAUSE_PATIENCE_S = 0.05  # the longest a slice waits for a pause between searches


class VectorIndex(Protocol):
    """Sticker id -> vector, searched by cosine similarity."""

    def upsert(self, ids: Sequence[int], vectors: Vectors) -> None:
        """Insert or replace vectors."""
        ...

    def delete(self, ids: Sequence[int]) -> None:
        """Remove vectors; unknown ids are ignored."""
        ...

    def query(self, vector: Vectors, k: int) -> list[tuple[int, float]]:
        """The k nearest ids with cosine similarity, best first."""
        ...

    def get(self, ids: Sequence[int]) -> dict[int, Vectors]:
        """Stored vectors of the ids that exist."""
        ...

    def count(self) -> int:
        """How many vectors are stored."""
        ...

    def clear(self) -> None:
        """Remove every vector; the next upsert may bring another dimension."""
        ...


class ChromaVectorIndex:
    """One Chroma collection with cosine space; embeddings are computed by us, not Chroma."""

    def __init__(
        self,
        open_collection: Callable[[], Any],
        recreate: Callable[[], Any],
        missing: type[Exception] = LookupError,
        traffic: SearchTraffic | None = None,
    ) -> None:
        self._open = open_collection
        self._recreate = recreate
        self._missing = missing  # what Chroma raises for a dropped collection
        self._traffic = traffic  # embedded Chroma only: its writes hold the GIL
        self._col = open_collection()

    def _do(self, method: str, **kwargs: Any) -> Any:
        try:
            return getattr(self._col, method)(**kwargs)
        except self._missing:
            # Another process recreated the collection (a change of text model): follow it.
            self._col = self._open()
            return getattr(self._col, method)(**kwargs)

    def upsert(self, ids: Sequence[int], vectors: Vectors) -> None:
        """Insert or replace vectors."""
        keys, rows = [str(i) for i in ids], np.asarray(vectors)
        for start, stop in self._slices(len(keys)):
            self._do("upsert", ids=keys[start:stop], embeddings=rows[start:stop])

    def delete(self, ids: Sequence[int]) -> None:
        """Remove vectors; unknown ids are ignored."""
        keys = [str(i) for i in ids]
        for start, stop in self._slices(len(keys)):
            self._do("delete", ids=keys[start:stop])

    def _slices(self, n: int) -> Iterator[tuple[int, int]]:
        """Ranges to write: all at once when no search is served, else small ones between them."""
        start, traffic = 0, self._traffic
        while start < n:
            size = n - start
            if traffic is not None and traffic.busy():
                size = WRITE_SLICE
                traffic.pause(PAUSE_PATIENCE_S)
            yield start, min(n, start + size)
            start += size

    def query(self, vector: Vectors, k: int) -> list[tuple[int, float]]:
        """The k nearest ids with cosine similarity, best first."""
        # No count() first: Chroma returns what it has when k exceeds it, and a count cost
        # 2.3-3.5 ms of a 6-9 ms count+query at 10k stickers (`stickerbot bench`, shared CPU).
        if k <= 0:
            return []
        res = self._do(
            "query",
            query_embeddings=np.asarray(vector, dtype=np.float32).reshape(1, -1),
            n_results=k,
            include=["distances"],
        )
        return [
            (int(i), 1.0 - float(d))
            for i, d in zip(res["ids"][0], res["distances"][0], strict=True)
        ]

    def get(self, ids: Sequence[int]) -> dict[int, Vectors]:
        """Stored vectors of the ids that exist."""
        found: dict[int, Vectors] = {}
        # In chunks: embedded Chroma binds every id as an SQLite variable, and a snapshot of a
        # 100k library asking for all of them at once failed ("too many SQL variables").
        for start in range(0, len(ids), GET_CHUNK):
            chunk = [str(i) for i in ids[start : start + GET_CHUNK]]
            res = self._do("get", ids=chunk, include=["embeddings"])
            for i, v in zip(res["ids"], res["embeddings"], strict=True):
                found[int(i)] = np.asarray(v, dtype=np.float32)
        return found

    def count(self) -> int:
        """How many vectors are stored."""
        return int(self._do("count"))

    def clear(self) -> None:
        """Drop and recreate the collection: Chroma keeps a collection's dimension for good."""
        self._col = self._recreate()


class MemoryVectorIndex:
    """Exact brute-force search in numpy; for tests and tiny libraries."""

    def __init__(self) -> None:
        self._vectors: dict[int, Vectors] = {}

    def upsert(self, ids: Sequence[int], vectors: Vectors) -> None:
        """Insert or replace vectors."""
        for i, v in zip(ids, vectors, strict=True):
            self._vectors[int(i)] = np.asarray(v, dtype=np.float32)

    def delete(self, ids: Sequence[int]) -> None:
        """Remove vectors; unknown ids are ignored."""
        for i in ids:
            self._vectors.pop(int(i), None)

    def query(self, vector: Vectors, k: int) -> list[tuple[int, float]]:
        """The k nearest ids with cosine similarity, best first."""
        if not self._vectors or k <= 0:
            return []
        ids = np.fromiter(self._vectors, dtype=np.int64)
        matrix = np.stack(list(self._vectors.values()))
        sims = unit_rows(matrix) @ unit_rows(np.asarray(vector, dtype=np.float32).reshape(-1))
        order = np.argsort(-sims, kind="stable")[:k]
        return [(int(ids[j]), float(sims[j])) for j in order]

    def get(self, ids: Sequence[int]) -> dict[int, Vectors]:
        """Stored vectors of the ids that exist."""
        return {int(i): self._vectors[int(i)] for i in ids if int(i) in self._vectors}

    def count(self) -> int:
        """How many vectors are stored."""
        return len(self._vectors)

    def clear(self) -> None:
        """Remove every vector."""
        self._vectors.clear()


def chroma_client(settings: VectorSettings, data_dir: Path) -> Any:
    """A Chroma client: persistent under data_dir, or HTTP to a server; telemetry off."""
    import chromadb
    from chromadb.config import Settings

    chroma_settings = Settings(anonymized_telemetry=False)
    if settings.mode == "server":
        return chromadb.HttpClient(host=settings.host, port=settings.port, settings=chroma_settings)
    return chromadb.PersistentClient(path=str(data_dir / "chroma"), settings=chroma_settings)


def chroma_index(
    client: Any, name: str, prefix: str = "", traffic: SearchTraffic | None = None
) -> ChromaVectorIndex:
    """Open or create a cosine collection without a Chroma-side embedding function.

    `traffic`: the process's searches, for an embedded client (its writes hold the GIL).
    """

    def create() -> Any:
        return client.get_or_create_collection(
            prefix + name,
            embedding_function=None,
            configuration={"hnsw": {"space": "cosine", "ef_search": 300}},
        )

    def recreate() -> Any:
        client.delete_collection(prefix + name)
        return create()

    from chromadb.errors import NotFoundError

    return ChromaVectorIndex(create, recreate, NotFoundError, traffic)
