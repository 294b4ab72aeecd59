"""CLIP style vectors: the image tower of any CLIP model through transformers."""

import threading
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from PIL import Image

from engine.errors import ConfigError
from engine.imaging import on_background, unit_rows
from engine.threads import torch_module
from engine.understanding.style.types import StyleError, StyleVectors

# Transparent pixels become mid grey: neither a light nor a dark chat theme.
GREY = (128, 128, 128, 255)


@dataclass(frozen=True)
class _Clip:
    model: Any
    processor: Any
    dim: int


class ClipImageEmbedder:
    """The image tower of a CLIP model via transformers (any HF id or local path)."""

    def __init__(self, model: str, device: str = "cpu", batch_size: int = 32) -> None:
        if not model:
            raise ConfigError("the clip style backend needs a model id or path")
        self.name = f"clip:{model}"
        self._model_id = model
        self._device = device
        self._batch_size = max(1, batch_size)
        self._loaded: _Clip | None = None
        self._lock = threading.Lock()

    @property
    def dim(self) -> int:
        """Length of every vector (loads the model)."""
        return self._load().dim

    def _load(self) -> _Clip:
        with self._lock:
            if self._loaded is None:
                self._loaded = _load_clip(self._model_id, self._device)
            return self._loaded

    def embed(self, images: Sequence[Image.Image]) -> StyleVectors:
        """Embed images in batches; one L2-normalised row per image."""
        clip = self._load()
        if not images:
            return np.zeros((0, clip.dim), dtype=np.float32)
        rows = [
            self._embed_batch(clip, images[i : i + self._batch_size])
            for i in range(0, len(images), self._batch_size)
        ]
        return np.concatenate(rows)

    def _embed_batch(self, clip: _Clip, images: Sequence[Image.Image]) -> StyleVectors:
        import torch

        rgb = [on_background(image, GREY) for image in images]
        inputs = clip.processor(images=rgb, return_tensors="pt").to(self._device)
        with torch.inference_mode():
            embeds = clip.model(pixel_values=inputs["pixel_values"]).image_embeds
        return unit_rows(embeds.float().cpu().numpy())


def _load_clip(model_id: str, device: str) -> _Clip:
    torch_module()
    from transformers import AutoImageProcessor, CLIPVisionModelWithProjection

    try:
        model: Any = CLIPVisionModelWithProjection.from_pretrained(model_id)
        # Typed in some transformers releases and not in others: call it through Any.
        image_processors: Any = AutoImageProcessor
        processor: Any = image_processors.from_pretrained(model_id)
    except (OSError, ValueError) as exc:
        raise StyleError(f"cannot load the CLIP style model {model_id!r}: {exc}") from exc
    model.to(device).eval()
    return _Clip(model, processor, int(model.config.projection_dim))
