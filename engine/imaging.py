"""Image helpers shared by media and the understanding stages: one copy of each.

Compositing transparency onto a background, fitting an image to a longest side or a padded
square, and scaling vector rows to unit length. Stored previews, style vectors and the eval
numbers depend on their exact arithmetic, so a change here changes all of them.
"""

import numpy as np
import numpy.typing as npt
from PIL import Image

# A colour name ("white") or a tuple in the image's mode, as `PIL.Image.new` takes it.
Colour = str | tuple[int, ...]
UnitRows = npt.NDArray[np.float32]


def on_background(image: Image.Image, colour: Colour) -> Image.Image:
    """An RGB copy with transparent pixels composited on `colour`."""
    rgba = image.convert("RGBA")
    canvas = Image.new("RGBA", rgba.size, colour)
    canvas.alpha_composite(rgba)
    return canvas.convert("RGB")


def scaled_size(width: int, height: int, side: int) -> tuple[int, int]:
    """`width` x `height` scaled so that the longer side is `side`."""
    scale = side / max(width, height)
    return max(1, round(width * scale)), max(1, round(height * scale))


def shrink_to_fit(image: Image.Image, max_side: int) -> Image.Image:
    """A copy at most `max_side` pixels on its longer side, aspect kept; never enlarged."""
    copy = image.copy()
    copy.thumbnail((max_side, max_side))
    return copy


def enlarge_to(image: Image.Image, min_side: int) -> Image.Image:
    """`image` itself when its longer side reaches `min_side`, else enlarged (bicubic) to it."""
    if max(image.size) >= min_side:
        return image
    return image.resize(scaled_size(image.width, image.height, min_side), Image.Resampling.BICUBIC)


def square_rgba(image: Image.Image, side: int) -> Image.Image:
    """RGBA, padded with transparency to a square and resized to side x side."""
    rgba = image.convert("RGBA")
    longest = max(rgba.size)
    # Padding keeps the aspect ratio: stretching would change stroke widths, a style cue.
    canvas = Image.new("RGBA", (longest, longest), (0, 0, 0, 0))
    canvas.paste(rgba, ((longest - rgba.width) // 2, (longest - rgba.height) // 2))
    return canvas if longest == side else canvas.resize((side, side), Image.Resampling.BICUBIC)


def unit_rows(x: npt.ArrayLike) -> UnitRows:
    """float32 rows scaled to unit L2 norm (zero rows stay zero)."""
    arr = np.asarray(x, dtype=np.float32)
    norms = np.linalg.norm(arr, axis=-1, keepdims=True)
    return np.asarray(arr / np.maximum(norms, 1e-12), dtype=np.float32)
