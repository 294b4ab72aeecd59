"""Hand-made style statistics of a sticker: palette, texture, colour, outline and alpha blocks."""

import numpy as np
import numpy.typing as npt
from PIL import Image

from engine.imaging import square_rgba
from engine.understanding.style.types import FloatArray

NEUTRAL_GREY = 0.5  # transparent pixels become mid grey: neither a light nor a dark chat theme
ANALYSIS_SIDE = 128  # colour and edge statistics are taken at one fixed scale
PALETTE_LEVELS = 16  # per RGB channel: 4096 colours tell one design system's palette from another
PALETTE_DIM = 512  # the 4096-bin palette is count-sketched to this many dimensions
GRADIENT_BINS = (-1.0, 0.5, 1.5, 2.5, 4.5, 8.5, 16.5, 32.5, 64.5, 256.0)  # in 8-bit levels
SOFT_BINS = 8
STAT_COUNT = 15  # colour_stats 7 + edge_stats 4 + alpha_stats 4, each soft-binned


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


HANDCRAFTED = {
    "palette": palette_features,
    "texture": texture_features,
    "stats": stats_features,
}
HANDCRAFTED_DIMS = {
    "palette": PALETTE_DIM,
    "texture": len(GRADIENT_BINS) - 1,
    "stats": STAT_COUNT * SOFT_BINS,
}


def handcrafted_blocks(
    image: Image.Image, names: tuple[str, ...] = tuple(HANDCRAFTED)
) -> dict[str, FloatArray]:
    """The named hand-made blocks of one image (all by default), each unnormalised."""
    rgba = rgba_array(image, ANALYSIS_SIDE)
    return {name: HANDCRAFTED[name](rgba) for name in names}
