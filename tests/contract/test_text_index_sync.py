"""Dense index sync: a change of text model re-embeds the whole library, resumably, once."""

import hashlib
import os
import threading
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from engine import index as index_module
from engine.ingest import ImportItem
from engine.service import SearchService
from engine.settings import EngineSettings, SearchSettings, StorageSettings
from engine.types import SearchQuery
from tests.conftest import encode, internals

EMOJI = ["😀", "😢", "🐱", "😡", "❤️", "🐶", "😴"]


class HashEmbedder:
    """A deterministic fake model: each text gets a fixed random unit vector of `dim`."""

    min_similarity = -1.0
    dense_weight = 0.2

    def __init__(self, identity: str, dim: int, fail_on_call: int | None = None) -> None:
        self.name = self.identity = identity
        self.dim = dim
        self.embedded: list[str] = []
        self.queried: list[str] = []
        self._calls = 0
        self._fail_on_call = fail_on_call

    def _vectors(self, texts: Sequence[str]) -> np.ndarray:
        rows = []
        for t in texts:
            seed = int(hashlib.sha256(f"{self.identity}{t}".encode()).hexdigest()[:8], 16)
            v = np.random.default_rng(seed).normal(size=self.dim)
            rows.append(v / np.linalg.norm(v))
        return np.asarray(rows, dtype=np.float32).reshape(-1, self.dim)

    def embed_queries(self, texts: Sequence[str]) -> np.ndarray:
        self.queried.extend(texts)
        return self._vectors(texts)

    def embed_documents(self, texts: Sequence[str]) -> np.ndarray:
        self._calls += 1
        if self._calls == self._fail_on_call:
            raise RuntimeError("killed mid-way")
        self.embedded.extend(texts)
        return self._vectors(texts)


def _settings(data_dir: Path) -> EngineSettings:
    return EngineSettings(storage=StorageSettings(data_dir=data_dir))


def _items() -> list[ImportItem]:
    def png(i: int) -> bytes:
        return encode(Image.new("RGBA", (16, 16), (i * 30, 200 - i * 20, 9, 255)), "PNG")

    return [ImportItem(f"{i}.png", lambda i=i: png(i), emoji=e) for i, e in enumerate(EMOJI)]


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    """A library of seven stickers indexed with model A (8 dimensions)."""
    with SearchService.open(_settings(tmp_path), HashEmbedder("A", 8)) as svc:
        svc.library.import_items(_items(), "p")
        assert internals(svc).text_index.count() == len(EMOJI)
    return tmp_path


def _stored_dims(svc: SearchService) -> set[int]:
    core = internals(svc)
    ids = list(core.snapshot().documents)
    return {len(v) for v in core.text_index.get(ids).values()}


def test_same_model_embeds_nothing_again(data_dir: Path) -> None:
    embedder = HashEmbedder("A", 8)
    with SearchService.open(_settings(data_dir), embedder) as svc:
        assert svc.library.refresh() == 0
    assert embedder.embedded == []


def test_switching_model_re_embeds_every_document_then_nothing(data_dir: Path) -> None:
    embedder = HashEmbedder("B", 16)  # another model, another dimension
    seen: list[tuple[int, int]] = []
    with SearchService.open(_settings(data_dir), embedder) as svc:
        assert svc.library.refresh(lambda step, total: seen.append((step, total))) == len(EMOJI)
        assert sum(step for step, _ in seen) == len(EMOJI) and seen[-1][1] == len(EMOJI)
        assert _stored_dims(svc) == {16}
        assert internals(svc).text_index.count() == len(EMOJI)
        assert svc.library.refresh() == 0
    assert len(embedder.embedded) == len(EMOJI)
    with SearchService.open(_settings(data_dir), HashEmbedder("B", 16)) as svc:
        assert svc.library.refresh() == 0  # and across processes


def test_old_vectors_never_answer_after_a_switch(data_dir: Path) -> None:
    """Until a document is re-embedded, it has no vector: model A's are not comparable."""
    with SearchService.open(_settings(data_dir), HashEmbedder("B", 8, fail_on_call=1)) as svc:
        with pytest.raises(RuntimeError):
            svc.library.refresh()
        assert internals(svc).text_index.count() == 0


def test_an_interrupted_switch_resumes_where_it_stopped(
    data_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(index_module, "EMBED_BATCH", 2)  # four committed batches
    with SearchService.open(_settings(data_dir), HashEmbedder("B", 16, fail_on_call=3)) as svc:
        with pytest.raises(RuntimeError):
            svc.library.refresh()
        assert internals(svc).text_index.count() == 4  # two batches were committed
    resumed = HashEmbedder("B", 16)
    with SearchService.open(_settings(data_dir), resumed) as svc:
        assert svc.library.refresh() == len(EMOJI) - 4
        assert internals(svc).text_index.count() == len(EMOJI)
        assert _stored_dims(svc) == {16}
    assert len(resumed.embedded) == len(EMOJI) - 4


def test_identical_texts_are_embedded_once(tmp_path: Path) -> None:
    embedder = HashEmbedder("A", 8)
    items = _items()
    twins = [ImportItem(f"twin{i}.png", item.read, emoji="😀") for i, item in enumerate(items)]
    with SearchService.open(_settings(tmp_path), embedder) as svc:
        svc.library.import_items(twins, "twins")
        assert internals(svc).text_index.count() == len(twins)
    assert len(embedder.embedded) == 1


def test_search_leaves_dense_recall_out_until_the_new_model_is_adopted(data_dir: Path) -> None:
    embedder = HashEmbedder("B", 16)
    with SearchService.open(_settings(data_dir), embedder) as svc:
        # No word matches: only dense recall could answer, and model A's vectors must not.
        assert svc.search(SearchQuery("u", "zzqx")).hits == []
        assert embedder.queried == []
        svc.library.refresh()  # the index job adopts model B
        assert len(svc.search(SearchQuery("u", "zzqy")).hits) == len(EMOJI)
        assert embedder.queried == ["zzqy"]


def test_typing_embeds_each_finished_word_once(data_dir: Path) -> None:
    """A word being typed is left to BM25's completions; the words before it embed once."""
    embedder = HashEmbedder("A", 8)
    with SearchService.open(_settings(data_dir), embedder) as svc:
        typed = "crying face"
        for n in range(1, len(typed) + 1):
            svc.search(SearchQuery("u:typist", typed[:n], limit=10))
        assert embedder.queried == ["cry", "crying", "crying face"]
        # Another user typing the same words reuses the vectors.
        embedder.queried.clear()
        for n in range(1, len(typed) + 1):
            svc.search(SearchQuery("u:another", typed[:n], limit=10))
        assert embedder.queried == []
        # A finished word the vocabulary lacks (a typo, a name) is embedded as typed.
        svc.search(SearchQuery("u:typist", "cryign", limit=10))
        assert embedder.queried == ["cryign"]


def test_after_a_whole_sync_a_refresh_embeds_just_the_changed_documents(data_dir: Path) -> None:
    embedder = HashEmbedder("A", 8)
    with SearchService.open(_settings(data_dir), embedder) as svc:
        assert svc.library.refresh() == 0  # the whole library checked once: all current
        sticker = internals(svc).snapshot().documents[min(internals(svc).snapshot().documents)]
        for user in ("a", "b", "c"):
            svc.users.record(user, sticker.sticker_id, "chosen", "zonked")
        assert svc.crowd.update_history_queries() == 1  # a learned query joins its dense text
        assert svc.library.refresh() == 1
        assert len(embedder.embedded) == 1 and "zonked" in embedder.embedded[0]
        assert svc.library.refresh() == 0


def test_stale_documents_read_the_same_through_either_query(
    data_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with SearchService.open(_settings(data_dir), HashEmbedder("A", 8)) as svc:
        core = internals(svc)
        docs = list(core.snapshot().documents.values())
        ids = lambda found: sorted(d.sticker_id for d in found)  # noqa: E731
        for identity in ("A", "B"):  # current hashes, then a model none were made with
            few = ids(index_module.stale_documents(core.db, docs, f"st:{identity}"))
            monkeypatch.setattr(index_module, "FEW_DOCUMENTS", 0)  # the whole table's hashes
            every = ids(index_module.stale_documents(core.db, docs, f"st:{identity}"))
            monkeypatch.undo()
            assert few == every
        assert ids(index_module.stale_documents(core.db, docs, "B")) == ids(docs)
        assert index_module.stale_documents(core.db, docs, core.embedder.identity) == []


def test_a_restarted_process_checks_only_what_changed_since_the_recorded_sync(
    data_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    checked: list[int] = []
    real = index_module.stale_documents

    def counting(db, docs, identity):  # type: ignore[no-untyped-def]
        checked.append(len(docs))
        return real(db, docs, identity)

    monkeypatch.setattr(index_module, "stale_documents", counting)
    new = ImportItem("new.png", lambda: encode(Image.new("RGBA", (16, 16), (1, 2, 3, 255)), "PNG"))
    with SearchService.open(_settings(data_dir), HashEmbedder("A", 8)) as svc:
        svc.library.import_items([new], "q")
    assert checked == [1]  # not the library's eight documents
    checked.clear()
    with SearchService.open(_settings(data_dir), HashEmbedder("B", 8)) as svc:
        assert svc.library.refresh() == len(EMOJI) + 1  # another model: every document
    with SearchService.open(_settings(data_dir), HashEmbedder("B", 8)) as svc:
        assert svc.library.refresh() == 0
    assert checked == [len(EMOJI) + 1, 0]


class CoresEmbedder(HashEmbedder):
    """The fake model, saying how many cores a query takes and which thread embedded it."""

    def __init__(self, cores: int) -> None:
        super().__init__("A", 8)
        self.cores = cores
        self.threads: list[str] = []

    def query_cores(self) -> int:
        return self.cores

    def embed_queries(self, texts: Sequence[str]) -> np.ndarray:
        self.threads.append(threading.current_thread().name)
        return super().embed_queries(texts)


@pytest.mark.parametrize(
    ("setting", "cores", "beside"),
    [(None, 1, True), (None, 10_000, False), (True, 10_000, True), (False, 1, False)],
)
def test_a_query_embeds_beside_bm25_only_when_a_core_is_left_for_it(
    data_dir: Path, setting: bool | None, cores: int, beside: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(os, "cpu_count", lambda: 2)
    settings = _settings(data_dir).model_copy(
        update={"search": SearchSettings(embed_in_parallel=setting)}
    )
    embedder = CoresEmbedder(cores)
    with SearchService.open(settings, embedder) as svc:
        assert svc.search(SearchQuery("u", "crying face", limit=5)).hits
    (thread,) = embedder.threads
    assert thread.startswith("query-embedding") is beside
