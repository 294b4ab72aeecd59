"""One contract for every VectorIndex backend: in-memory numpy, a real embedded Chroma, and a
real Chroma server (`chroma run`)."""

import uuid
from collections.abc import Iterator
from pathlib import Path

import chromadb
import numpy as np
import pytest
from chromadb.api.client import SharedSystemClient
from chromadb.config import Settings

from engine.settings import VectorSettings
from engine.traffic import SearchTraffic
from engine.vectors import (
    WRITE_SLICE,
    ChromaVectorIndex,
    MemoryVectorIndex,
    VectorIndex,
    chroma_client,
    chroma_index,
)

X = [1.0, 0.0, 0.0]
Y = [0.0, 1.0, 0.0]
XY = [0.6, 0.8, 0.0]  # cos(X, XY) = 0.6, cos(Y, XY) = 0.8
Z = [0.0, 0.0, 1.0]


def vecs(*rows: list[float]) -> np.ndarray:
    return np.array(rows, dtype=np.float32)


@pytest.fixture(params=["memory", "chroma", "chroma-server"])
def index(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[VectorIndex]:
    if request.param == "memory":
        yield MemoryVectorIndex()
        return
    if request.param == "chroma-server":
        host, port = request.getfixturevalue("chroma_server_address")
        server = chroma_client(VectorSettings(mode="server", host=host, port=port), tmp_path)
        # One server for the session: a collection per test keeps the tests apart.
        yield chroma_index(server, "sticker_text", prefix=f"t{uuid.uuid4().hex[:12]}_")
        return
    client = chromadb.PersistentClient(
        path=str(tmp_path / "chroma"), settings=Settings(anonymized_telemetry=False)
    )
    yield chroma_index(client, "sticker_text")
    SharedSystemClient.clear_system_cache()


@pytest.fixture
def filled(index: VectorIndex) -> VectorIndex:
    index.upsert([1, 2, 3], vecs(X, Y, XY))
    return index


def ids(results: list[tuple[int, float]]) -> list[int]:
    return [i for i, _ in results]


def test_empty(index: VectorIndex) -> None:
    assert index.count() == 0
    assert index.query(vecs(X)[0], 5) == []
    assert index.get([1, 2]) == {}


def test_count_after_upsert(filled: VectorIndex) -> None:
    assert filled.count() == 3


def test_nearest_first_with_cosine_similarity(filled: VectorIndex) -> None:
    results = filled.query(vecs(X)[0], 3)
    assert ids(results) == [1, 3, 2]
    sims = [s for _, s in results]
    assert sims == pytest.approx([1.0, 0.6, 0.0], abs=1e-4)


def test_other_query(filled: VectorIndex) -> None:
    results = filled.query(vecs(Y)[0], 3)
    assert ids(results) == [2, 3, 1]
    assert results[0][1] == pytest.approx(1.0, abs=1e-4)
    assert results[1][1] == pytest.approx(0.8, abs=1e-4)


def test_similarity_ignores_query_length(filled: VectorIndex) -> None:
    results = filled.query(vecs([5.0, 0.0, 0.0])[0], 1)
    assert ids(results) == [1]
    assert results[0][1] == pytest.approx(1.0, abs=1e-4)


def test_k_limits_results(filled: VectorIndex) -> None:
    assert ids(filled.query(vecs(X)[0], 1)) == [1]
    assert ids(filled.query(vecs(X)[0], 2)) == [1, 3]


def test_k_larger_than_count(filled: VectorIndex) -> None:
    assert ids(filled.query(vecs(X)[0], 50)) == [1, 3, 2]


def test_k_zero(filled: VectorIndex) -> None:
    assert filled.query(vecs(X)[0], 0) == []


def test_get_returns_stored_vectors(filled: VectorIndex) -> None:
    got = filled.get([3, 1, 99])
    assert set(got) == {1, 3}
    np.testing.assert_allclose(got[1], X, atol=1e-6)
    np.testing.assert_allclose(got[3], XY, atol=1e-6)


def test_get_of_more_ids_than_sqlite_binds(filled: VectorIndex) -> None:
    # A snapshot asks for every sticker's style vector: 100k ids once failed in embedded Chroma.
    got = filled.get([*range(4, 40_004), 2])
    assert set(got) == {2}
    np.testing.assert_allclose(got[2], Y, atol=1e-6)


def test_delete(filled: VectorIndex) -> None:
    filled.delete([2, 99])
    assert filled.count() == 2
    assert filled.get([2]) == {}
    assert ids(filled.query(vecs(Y)[0], 10)) == [3, 1]


def test_delete_nothing(filled: VectorIndex) -> None:
    filled.delete([])
    assert filled.count() == 3


def test_upsert_replaces(filled: VectorIndex) -> None:
    filled.upsert([1], vecs(Z))
    assert filled.count() == 3
    np.testing.assert_allclose(filled.get([1])[1], Z, atol=1e-6)
    results = filled.query(vecs(Z)[0], 3)
    assert results[0][0] == 1
    assert results[0][1] == pytest.approx(1.0, abs=1e-4)
    assert ids(filled.query(vecs(X)[0], 1)) == [3]


def test_upsert_nothing(index: VectorIndex) -> None:
    index.upsert([], np.zeros((0, 3), dtype=np.float32))
    assert index.count() == 0


def test_large_ids_round_trip(index: VectorIndex) -> None:
    big = 2**40 + 7
    index.upsert([big, 5], vecs(X, Y))
    assert ids(index.query(vecs(X)[0], 1)) == [big]
    assert set(index.get([big])) == {big}


def test_clear_removes_everything_and_frees_the_dimension(filled: VectorIndex) -> None:
    filled.clear()
    assert filled.count() == 0
    assert filled.query(vecs(X)[0], 5) == []
    # Another embedder may bring another dimension (Chroma keeps a collection's for good).
    filled.upsert([7], np.array([[0.0, 1.0]], dtype=np.float32))
    assert ids(filled.query(np.array([0.0, 1.0], dtype=np.float32), 1)) == [7]


def test_chroma_follows_a_collection_another_process_recreated(tmp_path: Path) -> None:
    """A model switch in the worker drops the collection under a running bot's index."""
    settings = Settings(anonymized_telemetry=False)
    bot = chroma_index(chromadb.PersistentClient(str(tmp_path), settings=settings), "sticker_text")
    bot.upsert([1], vecs(X))
    worker = chroma_index(
        chromadb.PersistentClient(str(tmp_path), settings=settings), "sticker_text"
    )
    worker.clear()
    worker.upsert([2], np.array([[0.0, 1.0]], dtype=np.float32))
    assert ids(bot.query(np.array([0.0, 1.0], dtype=np.float32), 5)) == [2]
    bot.upsert([3], np.array([[1.0, 0.0]], dtype=np.float32))
    assert bot.count() == 2
    SharedSystemClient.clear_system_cache()


class RecordingCollection:
    """A real Chroma collection, with the size of each write it was asked for."""

    def __init__(self, collection: object) -> None:
        self._col = collection
        self.writes: list[tuple[str, int]] = []

    def __getattr__(self, name: str) -> object:
        return getattr(self._col, name)

    def upsert(self, ids: list[str], embeddings: np.ndarray) -> None:
        self.writes.append(("upsert", len(ids)))
        self._col.upsert(ids=ids, embeddings=embeddings)  # type: ignore[attr-defined]

    def delete(self, ids: list[str]) -> None:
        self.writes.append(("delete", len(ids)))
        self._col.delete(ids=ids)  # type: ignore[attr-defined]


def test_embedded_writes_go_in_slices_between_searches(tmp_path: Path) -> None:
    """Embedded Chroma holds the GIL for a whole write: while searches are served, small ones."""
    client = chromadb.PersistentClient(str(tmp_path), settings=Settings(anonymized_telemetry=False))
    recorded = RecordingCollection(
        client.get_or_create_collection("sticker_text", configuration={"hnsw": {"space": "cosine"}})
    )
    traffic = SearchTraffic()
    index = ChromaVectorIndex(lambda: recorded, lambda: recorded, traffic=traffic)
    rows = np.random.default_rng(0).normal(size=(40, 3)).astype(np.float32)
    index.upsert(range(40), rows)  # nobody searching: one write
    with traffic.serving():
        pass  # a search just ended: the next writes are sliced
    index.upsert(range(40, 80), rows)
    index.delete(list(range(20)))
    assert recorded.writes == [
        ("upsert", 40),
        *[("upsert", n) for n in (WRITE_SLICE, WRITE_SLICE, 40 - 2 * WRITE_SLICE)],
        *[("delete", n) for n in (WRITE_SLICE, 20 - WRITE_SLICE)],
    ]
    assert index.count() == 60
    got = index.get([45, 79])
    np.testing.assert_allclose(np.stack([got[45], got[79]]), rows[[5, 39]], rtol=1e-6)
    SharedSystemClient.clear_system_cache()
