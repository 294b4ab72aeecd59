"""Sticker media as a chat can post it as an image: animation kept in a format clients play inline.

GIF, PNG (APNG included), JPEG and static WEBP are posted as they are. Telegram's animated
(TGS, Lottie) and video (WEBM) stickers and animated WEBP are re-encoded as animated GIF, which
every chat client plays inline: at most 320 px (a chat shows stickers at 160 px) and 30 frames
per second (GIF delays are whole centiseconds; browsers slow down delays under 20 ms). If even a
smaller GIF exceeds the size limit, or the animation cannot be rendered, the still preview frame
is posted with a note.
"""

import io
import logging
import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from PIL import Image

from engine.decoders import decode_webm_frames, render_lottie_frames
from engine.errors import MediaError

log = logging.getLogger(__name__)
GIF_SIDES = (320, 160)  # tried in order until the GIF fits the size limit
GIF_MAX_FPS = 30.0
ALPHA_CUTOFF = 128  # GIF transparency is on or off per pixel
AS_IS = {"gif": "gif", "png": "png", "jpeg": "jpg"}
STILL_NOTE = "(still frame: the animation could not be converted)"
FrameSource = Callable[[bytes, int, int, float], tuple[list[Image.Image], int]]


@dataclass(frozen=True)
class PostableMedia:
    """Bytes to attach, a file name with the right extension, and a note for the reader."""

    data: bytes
    filename: str
    animated: bool
    note: str = ""  # empty, or why the post differs from the sticker (a still frame)


def postable_media(
    media_path: str, preview_path: str, fmt: str, max_bytes: int, max_pixels: int
) -> PostableMedia:
    """The sticker as one image file of at most `max_bytes`, animated where the sticker is."""
    data = Path(media_path).read_bytes()
    if fmt in AS_IS and len(data) <= max_bytes:
        return PostableMedia(data, f"sticker.{AS_IS[fmt]}", _is_animated(data))
    if fmt == "webp" and not _is_animated(data) and len(data) <= max_bytes:
        return PostableMedia(data, "sticker.webp", False)
    source = _frame_source(fmt)
    if source is not None:
        try:
            gif = _as_gif(data, source, max_bytes, max_pixels)
        except MediaError as exc:
            log.warning("could not convert a %s sticker to GIF: %s", fmt, exc)
            gif = None
        if gif is not None:
            return PostableMedia(gif, "sticker.gif", True)
    still = Path(preview_path).read_bytes()
    note = "" if fmt in ("png", "jpeg", "webp") and not _is_animated(data) else STILL_NOTE
    return PostableMedia(still, "sticker.png", False, note)


def _frame_source(fmt: str) -> FrameSource | None:
    if fmt == "tgs":
        return render_lottie_frames
    if fmt == "webm":
        return decode_webm_frames
    if fmt in ("webp", "gif", "png"):
        return _pillow_frames
    return None


def _is_animated(data: bytes) -> bool:
    try:
        with Image.open(io.BytesIO(data)) as image:
            return bool(getattr(image, "is_animated", False))
    except (OSError, ValueError):
        return False


def _pillow_frames(
    data: bytes, max_pixels: int, max_side: int, max_fps: float
) -> tuple[list[Image.Image], int]:
    """Frames of an animated WEBP (or an oversized GIF/APNG), scaled, with their delay."""
    frames: list[Image.Image] = []
    with Image.open(io.BytesIO(data)) as image:
        if image.width * image.height > max_pixels:
            raise MediaError(f"image too large ({image.width}x{image.height} pixels)")
        delay = int(image.info.get("duration") or 100)
        step = max(1, math.ceil(1000 / max_fps / max(delay, 1)))
        for index in range(0, getattr(image, "n_frames", 1), step):
            image.seek(index)
            frame = image.convert("RGBA")
            frame.thumbnail((max_side, max_side))
            frames.append(frame)
    return frames, max(20, delay * step)


def _as_gif(data: bytes, source: FrameSource, max_bytes: int, max_pixels: int) -> bytes | None:
    """The smallest-side GIF that fits `max_bytes`, trying larger sides first."""
    for side in GIF_SIDES:
        frames, delay_ms = source(data, max_pixels, side, GIF_MAX_FPS)
        gif = encode_gif(frames, delay_ms)
        if len(gif) <= max_bytes:
            return gif
    return None


def encode_gif(frames: list[Image.Image], delay_ms: int) -> bytes:
    """An endlessly looping GIF of RGBA frames; pixels under half opacity become transparent."""
    if not frames:
        raise MediaError("animation has no frames")
    paletted = [_paletted(frame) for frame in frames]
    out = io.BytesIO()
    paletted[0].save(
        out,
        "GIF",
        save_all=True,
        append_images=paletted[1:],
        duration=delay_ms,
        loop=0,
        disposal=2,  # clear each frame: transparent areas must not show the frame before
        transparency=255,
        optimize=False,
    )
    return out.getvalue()


def _paletted(frame: Image.Image) -> Image.Image:
    rgba = frame.convert("RGBA")
    alpha = rgba.getchannel("A")
    # 255 colours for the picture, index 255 for transparency.
    image = rgba.convert("RGB").quantize(255, method=Image.Quantize.MEDIANCUT)
    mask = alpha.point(lambda a: 255 if a < ALPHA_CUTOFF else 0)
    image.paste(255, mask=mask)
    return image
