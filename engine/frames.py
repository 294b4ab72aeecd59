"""Decoded sticker frames: what every decoder returns and which frame stands for an animation.

A leaf module: `engine.media` (sniffing, raster decoding) and `engine.decoders` (TGS, WEBM) both
import it and neither imports the other's internals through it.
"""

from collections.abc import Callable
from dataclasses import dataclass

from PIL import Image

# Reaching a later frame of a GIF, APNG, WEBP or video decodes every frame before it; a 20 MB
# animation can hold hours of that. Past this many pixels decoded, an earlier frame is taken.
SEEK_PIXEL_BUDGET = 64 * 1024 * 1024


@dataclass(frozen=True)
class DecodedMedia:
    """A representative RGBA frame and facts about the original file."""

    format: str
    frame: Image.Image
    width: int
    height: int
    frame_count: int


FrameDecoder = Callable[[bytes, int], DecodedMedia]


def representative_index(frame_count: int, frame_pixels: int) -> int:
    """The frame that stands for an animation: the middle one, within the seek budget.

    `frame_pixels` is what decoding one earlier frame costs; 0 where frames are random access.
    """
    # The first frame of an animation is often blank; the middle one shows the sticker.
    index = frame_count // 2 if frame_count > 2 else 0
    if frame_pixels > 0:
        index = min(index, SEEK_PIXEL_BUDGET // frame_pixels)
    return index
