"""Sticker images as VLMs take them: on white, and as a bounded PNG data URL."""

import base64
import io

from PIL import Image

from engine.imaging import on_background, shrink_to_fit

MAX_IMAGE_SIDE = 1024


def to_rgb(image: Image.Image) -> Image.Image:
    """The image on white: stickers are mostly transparent, and hidden pixels are often black."""
    if image.mode in ("RGBA", "LA", "PA") or "transparency" in image.info:
        return on_background(image, "white")
    return image.convert("RGB")


def png_data_url(image: Image.Image, max_side: int = MAX_IMAGE_SIDE) -> str:
    """The image as a base64 PNG data URL, at most `max_side` pixels on its longer side."""
    rgb = shrink_to_fit(to_rgb(image), max_side)
    out = io.BytesIO()
    rgb.save(out, "PNG")
    return "data:image/png;base64," + base64.b64encode(out.getvalue()).decode("ascii")
