"""Sticker images as VLMs take them: on white, and as a bounded PNG data URL."""

import base64
import io

from PIL import Image

MAX_IMAGE_SIDE = 1024


def to_rgb(image: Image.Image) -> Image.Image:
    """The image on white: stickers are mostly transparent, and hidden pixels are often black."""
    if image.mode in ("RGBA", "LA", "PA") or "transparency" in image.info:
        rgba = image.convert("RGBA")
        white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(white, rgba).convert("RGB")
    return image.convert("RGB")


def png_data_url(image: Image.Image, max_side: int = MAX_IMAGE_SIDE) -> str:
    """The image as a base64 PNG data URL, at most `max_side` pixels on its longer side."""
    rgb = to_rgb(image)
    if max(rgb.size) > max_side:
        rgb.thumbnail((max_side, max_side))
    out = io.BytesIO()
    rgb.save(out, "PNG")
    return "data:image/png;base64," + base64.b64encode(out.getvalue()).decode("ascii")
