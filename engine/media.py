"""Sticker media: format sniffing, decoding a representative frame, content-addressed storage."""

import hashlib
import io
import os
import tempfile
import warnings
from pathlib import Path

from PIL import Image, UnidentifiedImageError

from engine.decoders import decode_tgs, decode_webm
from engine.errors import MediaError
from engine.frames import DecodedMedia, FrameDecoder, representative_index
from engine.imaging import shrink_to_fit

PREVIEW_MAX_SIDE = 512


def sniff_format(data: bytes) -> str:
    """The sticker format from magic bytes, or raise `MediaError`."""
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "png"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "webp"
    if data.startswith(b"\xff\xd8\xff"):
        return "jpeg"
    if data[:6] in (b"GIF87a", b"GIF89a"):
        return "gif"
    if data.startswith(b"\x1f\x8b"):
        return "tgs"
    if data.startswith(b"\x1a\x45\xdf\xa3"):
        return "webm"
    raise MediaError("not a supported sticker image (PNG, WEBP, JPEG, GIF, TGS or WEBM)")


def _decode_raster(data: bytes, max_pixels: int) -> DecodedMedia:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(data))
            if image.width * image.height > max_pixels:
                raise MediaError(f"image too large ({image.width}x{image.height} pixels)")
            frames = getattr(image, "n_frames", 1)
            image.seek(representative_index(frames, image.width * image.height))
            frame = image.convert("RGBA")
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, EOFError) as exc:
        raise MediaError(f"corrupt or unreadable image ({exc.__class__.__name__})") from exc
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise MediaError("image too large (decompression bomb)") from exc
    fmt = (image.format or "").lower()
    return DecodedMedia(fmt, frame, image.width, image.height, frames)


# One decoder per sniffed format; APNG is a PNG and animated WEBP a WEBP to Pillow.
DECODERS: dict[str, FrameDecoder] = {
    "png": _decode_raster,
    "webp": _decode_raster,
    "jpeg": _decode_raster,
    "gif": _decode_raster,
    "tgs": decode_tgs,
    "webm": decode_webm,
}


def decode_media(data: bytes, max_pixels: int) -> DecodedMedia:
    """Decode a representative frame of any supported sticker format."""
    fmt = sniff_format(data)
    decoded = DECODERS[fmt](data, max_pixels)
    return DecodedMedia(fmt, decoded.frame, decoded.width, decoded.height, decoded.frame_count)


def content_hash(data: bytes) -> str:
    """sha256 of the original bytes: the dedupe key and the media file name."""
    return hashlib.sha256(data).hexdigest()


def render_preview(frame: Image.Image) -> bytes:
    """A PNG preview, at most PREVIEW_MAX_SIDE on its longer side."""
    preview = shrink_to_fit(frame, PREVIEW_MAX_SIDE)
    out = io.BytesIO()
    preview.save(out, "PNG", compress_level=6)
    return out.getvalue()


def stored_path(kind: str, digest: str, ext: str) -> str:
    """Where the store keeps a file of `kind` ("media", "previews"), relative to its root."""
    return f"{kind}/{digest[:2]}/{digest}.{ext}"


class MediaStore:
    """Files under `root`, addressed by content hash; paths returned relative to `root`."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def put(self, kind: str, digest: str, ext: str, data: bytes) -> str:
        """Write atomically unless present; return the relative path."""
        rel = stored_path(kind, digest, ext)
        target = self.root / rel
        if not target.exists():
            target.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".tmp-")
            try:
                with os.fdopen(fd, "wb") as fh:
                    fh.write(data)
                os.replace(tmp, target)
            except BaseException:
                Path(tmp).unlink(missing_ok=True)
                raise
        return rel

    def path(self, rel: str) -> Path:
        """Absolute path of a stored file."""
        return self.root / rel

    def delete(self, rel: str) -> None:
        """Remove a stored file if it exists."""
        if rel:
            (self.root / rel).unlink(missing_ok=True)
