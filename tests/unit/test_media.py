"""Format sniffing, decoding a representative frame, and content-addressed media storage."""

import gzip
import io
import os
import struct
import zlib
from collections.abc import Callable
from pathlib import Path

import pytest
from PIL import Image

import engine.frames
import engine.media
from engine.errors import MediaError, UnsupportedFormatError
from engine.frames import representative_index
from engine.index import StickerMeta
from engine.media import (
    PREVIEW_MAX_SIDE,
    MediaStore,
    content_hash,
    decode_media,
    render_preview,
    sniff_format,
)

ImageMaker = Callable[..., bytes]
MAX_PIXELS = 1_000_000
WEBM_MAGIC = b"\x1a\x45\xdf\xa3" + b"\x00" * 28


class TestSniffFormat:
    def test_png(self, make_png: ImageMaker) -> None:
        assert sniff_format(make_png()) == "png"

    def test_webp(self, make_webp: ImageMaker) -> None:
        assert sniff_format(make_webp()) == "webp"

    def test_jpeg(self, make_jpeg: ImageMaker) -> None:
        assert sniff_format(make_jpeg()) == "jpeg"

    def test_gif(self, make_gif: ImageMaker) -> None:
        assert sniff_format(make_gif([(1, 2, 3)])) == "gif"
        assert sniff_format(b"GIF87a" + b"\x00" * 10) == "gif"

    def test_tgs_is_gzip(self) -> None:
        assert sniff_format(gzip.compress(b'{"v":"5.5.2","fr":60}')) == "tgs"

    def test_webm(self) -> None:
        assert sniff_format(WEBM_MAGIC) == "webm"

    def test_riff_that_is_not_webp(self) -> None:
        with pytest.raises(MediaError):
            sniff_format(b"RIFF\x00\x00\x00\x00WAVEfmt ")

    @pytest.mark.parametrize(
        "data", [b"", b"hello world", b"%PDF-1.7\n", b"\x89PN", b"BM\x00\x00\x00\x00"]
    )
    def test_garbage(self, data: bytes) -> None:
        with pytest.raises(MediaError):
            sniff_format(data)


class TestDecodeMedia:
    def test_png_rgba_frame(self, make_png: ImageMaker) -> None:
        decoded = decode_media(make_png((10, 20, 30, 128), (40, 24)), MAX_PIXELS)
        assert decoded.format == "png"
        assert (decoded.width, decoded.height) == (40, 24)
        assert decoded.frame_count == 1
        assert decoded.frame.mode == "RGBA"
        assert decoded.frame.size == (40, 24)
        assert decoded.frame.getpixel((0, 0)) == (10, 20, 30, 128)

    def test_webp_keeps_alpha(self, make_webp: ImageMaker) -> None:
        decoded = decode_media(make_webp((1, 2, 3, 128), (16, 8)), MAX_PIXELS)
        assert decoded.format == "webp"
        assert decoded.frame.mode == "RGBA"
        assert decoded.frame.getpixel((3, 3)) == (1, 2, 3, 128)

    def test_jpeg_becomes_rgba(self, make_jpeg: ImageMaker) -> None:
        decoded = decode_media(make_jpeg(), MAX_PIXELS)
        assert decoded.format == "jpeg"
        assert decoded.frame.mode == "RGBA"
        assert decoded.frame.getpixel((0, 0))[3] == 255

    def test_animated_gif_frame_count_and_middle_frame(self, make_gif: ImageMaker) -> None:
        data = make_gif([(255, 0, 0), (0, 255, 0), (0, 0, 255)], (8, 8))
        decoded = decode_media(data, MAX_PIXELS)
        assert decoded.format == "gif"
        assert decoded.frame_count == 3
        assert decoded.frame.mode == "RGBA"
        # The representative frame is the middle one (the first is often blank).
        assert decoded.frame.getpixel((0, 0)) == (0, 255, 0, 255)

    def test_two_frame_gif_uses_first_frame(self, make_gif: ImageMaker) -> None:
        decoded = decode_media(make_gif([(255, 0, 0), (0, 0, 255)], (8, 8)), MAX_PIXELS)
        assert decoded.frame_count == 2
        assert decoded.frame.getpixel((0, 0)) == (255, 0, 0, 255)

    def test_apng_is_png_with_frames(self) -> None:
        colors = [(255, 0, 0, 255), (0, 255, 0, 128), (0, 0, 255, 255)]
        decoded = decode_media(animation(colors, "PNG"), MAX_PIXELS)
        assert decoded.format == "png"
        assert decoded.frame_count == 3
        assert decoded.frame.mode == "RGBA"
        assert decoded.frame.getpixel((2, 2)) == (0, 255, 0, 128)

    def test_animated_webp(self) -> None:
        colors = [(255, 0, 0, 255), (0, 255, 0, 255), (0, 0, 255, 255), (9, 9, 9, 255)]
        decoded = decode_media(animation(colors, "WEBP", lossless=True), MAX_PIXELS)
        assert decoded.format == "webp"
        assert decoded.frame_count == 4
        assert decoded.frame.getpixel((2, 2)) == (0, 0, 255, 255)  # frame 4 // 2

    def test_animated_webp_keeps_alpha(self) -> None:
        colors = [(255, 0, 0, 255), (0, 255, 0, 0), (0, 0, 255, 255)]
        decoded = decode_media(animation(colors, "WEBP", lossless=True), MAX_PIXELS)
        assert decoded.frame.getchannel("A").getpixel((2, 2)) == 0

    def test_apng_claiming_more_frames_than_it_has(self) -> None:
        data = apng_with_frame_count(animation([(1, 1, 1, 255), (2, 2, 2, 255)], "PNG"), 10_000)
        with pytest.raises(MediaError, match="corrupt"):
            decode_media(data, MAX_PIXELS)

    def test_seek_budget_takes_an_earlier_frame(
        self, make_gif: ImageMaker, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        colors = [(255, 0, 0), (0, 255, 0), (0, 0, 255), (255, 255, 0), (0, 255, 255)]
        monkeypatch.setattr(engine.frames, "SEEK_PIXEL_BUDGET", 8 * 8)  # one 8x8 frame
        decoded = decode_media(make_gif(colors, (8, 8)), MAX_PIXELS)
        assert decoded.frame_count == 5
        assert decoded.frame.getpixel((0, 0)) == (0, 255, 0, 255)  # frame 1, not 2

    def test_limit_is_inclusive(self, make_png: ImageMaker) -> None:
        decoded = decode_media(make_png(size=(10, 10)), max_pixels=100)
        assert decoded.width * decoded.height == 100

    def test_too_many_pixels(self, make_png: ImageMaker) -> None:
        with pytest.raises(MediaError, match="too large"):
            decode_media(make_png(size=(64, 64)), max_pixels=64 * 64 - 1)

    def test_header_claiming_huge_size_is_rejected(self) -> None:
        data = png_with_header_size(50_000, 50_000)
        with pytest.raises(MediaError, match="too large"):
            decode_media(data, max_pixels=4096 * 4096)

    @pytest.mark.parametrize("keep", [8, 30, 50, 0.5])
    def test_truncated_png(self, make_png: ImageMaker, keep: float) -> None:
        data = make_png(size=(64, 64))
        cut = int(len(data) * keep) if isinstance(keep, float) else keep
        with pytest.raises(MediaError):
            decode_media(data[:cut], MAX_PIXELS)

    def test_truncated_jpeg(self, make_jpeg: ImageMaker) -> None:
        data = make_jpeg(size=(64, 64))
        with pytest.raises(MediaError):
            decode_media(data[:200], MAX_PIXELS)

    def test_corrupt_pixel_data(self) -> None:
        with pytest.raises(MediaError):
            decode_media(png_with_idat(b"this is not zlib data at all"), MAX_PIXELS)

    def test_garbage(self) -> None:
        with pytest.raises(MediaError):
            decode_media(b"\x00" * 100, MAX_PIXELS)

    def test_tgs_that_is_not_lottie(self) -> None:
        with pytest.raises(MediaError, match="not a Lottie animation"):
            decode_media(gzip.compress(b'{"v":"5.5.2"}'), MAX_PIXELS)

    def test_webm_that_is_only_a_header(self) -> None:
        with pytest.raises(MediaError, match="video sticker"):
            decode_media(WEBM_MAGIC, MAX_PIXELS)

    def test_unsupported_is_a_media_error(self) -> None:
        assert issubclass(UnsupportedFormatError, MediaError)


def _chunk(kind: bytes, body: bytes) -> bytes:
    crc = zlib.crc32(kind + body) & 0xFFFFFFFF
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", crc)


def png_with_idat(idat: bytes, width: int = 4, height: int = 4) -> bytes:
    """A PNG with valid chunk framing and CRCs around arbitrary pixel data."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 6, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", ihdr) + _chunk(b"IDAT", idat) + _chunk(b"IEND", b"")
    )


def png_with_header_size(width: int, height: int) -> bytes:
    """A tiny file whose header claims a huge image (a decompression bomb's first bytes)."""
    return png_with_idat(zlib.compress(b"\x00" * 64), width, height)


def animation(colors: list[tuple[int, int, int, int]], fmt: str, **options: object) -> bytes:
    """An animated PNG/WEBP/GIF with one solid 8x8 RGBA frame per colour."""
    frames = [Image.new("RGBA", (8, 8), c) for c in colors]
    out = io.BytesIO()
    frames[0].save(out, fmt, save_all=True, append_images=frames[1:], duration=50, **options)
    return out.getvalue()


def apng_with_frame_count(data: bytes, count: int) -> bytes:
    """The APNG `data` with its acTL chunk rewritten to claim `count` frames."""
    at = data.index(b"acTL") - 4
    plays = data[at + 12 : at + 16]
    return data[:at] + _chunk(b"acTL", struct.pack(">I", count) + plays) + data[at + 20 :]


class TestRepresentativeIndex:
    @pytest.mark.parametrize(("frames", "index"), [(1, 0), (2, 0), (3, 1), (4, 2), (61, 30)])
    def test_middle_frame(self, frames: int, index: int) -> None:
        assert representative_index(frames, 0) == index

    def test_budget_caps_the_seek(self) -> None:
        budget = engine.frames.SEEK_PIXEL_BUDGET
        assert representative_index(1000, budget // 10) == 10
        assert representative_index(1000, budget * 2) == 0
        assert representative_index(10, budget // 100) == 5


class TestPreview:
    def test_preview_is_bounded_png(self) -> None:
        preview = render_preview(Image.new("RGBA", (1024, 256), (1, 2, 3, 255)))
        assert sniff_format(preview) == "png"
        decoded = decode_media(preview, MAX_PIXELS)
        assert max(decoded.width, decoded.height) == PREVIEW_MAX_SIDE
        assert (decoded.width, decoded.height) == (512, 128)

    def test_small_frame_not_enlarged(self) -> None:
        preview = render_preview(Image.new("RGBA", (20, 10)))
        assert decode_media(preview, MAX_PIXELS).width == 20


class TestMediaStore:
    def test_put_is_content_addressed(self, tmp_path: Path, make_png: ImageMaker) -> None:
        data = make_png()
        digest = content_hash(data)
        store = MediaStore(tmp_path)
        rel = store.put("media", digest, "png", data)
        assert rel == f"media/{digest[:2]}/{digest}.png"
        assert store.path(rel) == tmp_path / rel
        assert store.path(rel).read_bytes() == data

    def test_put_is_idempotent(self, tmp_path: Path, make_png: ImageMaker) -> None:
        data = make_png()
        digest = content_hash(data)
        store = MediaStore(tmp_path)
        first = store.put("media", digest, "png", data)
        mtime = store.path(first).stat().st_mtime_ns
        second = store.put("media", digest, "png", data)
        assert second == first
        assert store.path(second).stat().st_mtime_ns == mtime
        files = [p for p in tmp_path.rglob("*") if p.is_file()]
        assert files == [tmp_path / first]  # no temp files left behind

    def test_different_content_different_paths(self, tmp_path: Path, make_png: ImageMaker) -> None:
        store = MediaStore(tmp_path)
        a, b = make_png((1, 1, 1, 255)), make_png((2, 2, 2, 255))
        rel_a = store.put("media", content_hash(a), "png", a)
        rel_b = store.put("media", content_hash(b), "png", b)
        assert rel_a != rel_b
        assert store.path(rel_a).read_bytes() == a
        assert store.path(rel_b).read_bytes() == b

    def test_content_hash_is_sha256(self) -> None:
        assert content_hash(b"abc") == (
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        )

    def test_delete(self, tmp_path: Path, make_png: ImageMaker) -> None:
        store = MediaStore(tmp_path)
        data = make_png()
        rel = store.put("previews", content_hash(data), "png", data)
        store.delete(rel)
        assert not store.path(rel).exists()
        store.delete(rel)  # a missing file is not an error
        store.delete("")

    def test_failed_write_leaves_no_temp_file(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        class DiskFull:
            def __init__(self, fd: int) -> None:
                self.fh = os.fdopen(fd, "wb")

            def __enter__(self) -> "DiskFull":
                return self

            def __exit__(self, *_exc: object) -> None:
                self.fh.close()

            def write(self, data: bytes) -> None:
                self.fh.write(data[:10])
                raise OSError(28, "No space left on device")

        class OsWithFullDisk:
            def __getattr__(self, name: str) -> object:
                return getattr(os, name)

            @staticmethod
            def fdopen(fd: int, _mode: str) -> DiskFull:
                return DiskFull(fd)

        monkeypatch.setattr(engine.media, "os", OsWithFullDisk())
        store = MediaStore(tmp_path)
        with pytest.raises(OSError, match="No space"):
            store.put("media", "ab" * 32, "png", b"x" * 100)
        assert [p for p in tmp_path.rglob("*") if p.is_file()] == []


def test_hit_metadata_keeps_the_digest_of_store_paths_and_any_other_paths_whole(
    tmp_path: Path,
) -> None:
    store = MediaStore(tmp_path)
    digest = content_hash(b"sticker bytes")
    media = store.put("media", digest, "webp", b"sticker bytes")
    preview = store.put("previews", digest, "png", b"png bytes")
    meta = StickerMeta.of(7, "pack", "😀", "a.webp", "webp", media, preview, None, None, False)
    assert meta.media == bytes.fromhex(digest)  # 32 bytes, not two 90-character paths
    assert (meta.media_path, meta.preview_path) == (media, preview)
    hit = meta.hit(0.5, "/root")
    assert (hit.media_path, hit.preview_path) == (f"/root/{media}", f"/root/{preview}")
    for paths in [
        ("", ""),
        (media, ""),
        ("media/x.webp", preview),
        (media.replace("webp", "png"), preview),
    ]:
        other = StickerMeta.of(7, "pack", "😀", "a.webp", "webp", *paths, None, None, False)
        assert other.media == paths and (other.media_path, other.preview_path) == paths
