"""TGS (Lottie via rlottie) and WEBM (VP9 via PyAV) decoding, on animations the tests build."""

import gzip
import io
import json
from typing import Any

import av
import numpy as np
import pytest
from PIL import Image

import engine.decoders
import engine.frames
from engine.decoders import gunzip_bounded, has_decoder
from engine.errors import MediaError, UnsupportedFormatError
from engine.media import decode_media

MAX_PIXELS = 1_000_000
RED, BLUE = (255, 0, 0, 255), (0, 0, 255, 255)


def _has_encoder(name: str) -> bool:
    try:
        av.Codec(name, "w")
    except ValueError:
        return False
    return True


VP9_ENCODER = pytest.mark.skipif(
    not _has_encoder("libvpx-vp9"), reason="this PyAV build cannot encode VP9 test clips"
)
VP9_ALPHA = pytest.mark.skipif(
    not has_decoder("libvpx-vp9"), reason="this PyAV build has no libvpx-vp9 (alpha) decoder"
)


def _static(value: object) -> dict[str, object]:
    return {"a": 0, "k": value}


def lottie(frames: int = 30, width: int = 512, height: int = 512) -> dict[str, Any]:
    """A shape layer: a centred half-size rectangle, red until the middle frame, then blue."""
    color = {
        "a": 1,
        "k": [
            {"t": 0, "s": [1, 0, 0, 1], "h": 1},
            {"t": frames // 2, "s": [0, 0, 1, 1], "h": 1},
            {"t": frames, "s": [0, 0, 1, 1]},
        ],
    }
    shapes = [
        {"ty": "rc", "d": 1, "s": _static([width / 2, height / 2]), "p": _static([0, 0])},
        {"ty": "fl", "c": color, "o": _static(100), "r": 1},
        {"ty": "tr", "p": _static([0, 0]), "a": _static([0, 0]), "s": _static([100, 100])},
    ]
    transform = {"o": _static(100), "p": _static([width / 2, height / 2, 0]), "a": _static([0, 0])}
    layer = {"ty": 4, "ind": 1, "ip": 0, "op": frames, "st": 0, "ks": transform}
    layer["shapes"] = [{"ty": "gr", "it": shapes}]
    return {
        "v": "5.5.2",
        "fr": 30,
        "ip": 0,
        "op": frames,
        "w": width,
        "h": height,
        "layers": [layer],
    }


def tgs(doc: object) -> bytes:
    """A TGS file: gzipped Lottie JSON."""
    return gzip.compress(json.dumps(doc).encode())


def webm(colors: list[tuple[int, ...]], size: tuple[int, int] = (64, 48), fps: int = 10) -> bytes:
    """A VP9 WEBM, one frame per colour: left half that colour, right half transparent."""
    out = io.BytesIO()
    with av.open(out, "w", format="webm") as container:
        stream = container.add_stream("libvpx-vp9", rate=fps)
        stream.width, stream.height = size
        stream.pix_fmt = "yuva420p"
        for color in colors:
            pixels = np.zeros((size[1], size[0], 4), np.uint8)
            pixels[:, : size[0] // 2] = color
            container.mux(stream.encode(av.VideoFrame.from_ndarray(pixels, format="rgba")))
        container.mux(stream.encode(None))
    return out.getvalue()


def rgba(image: Image.Image, xy: tuple[int, int]) -> tuple[int, ...]:
    """The RGBA pixel at `xy`."""
    value = image.getpixel(xy)
    assert isinstance(value, tuple)
    return value


def close(pixel: tuple[int, ...], expected: tuple[int, ...], tolerance: int = 8) -> bool:
    """Whether two pixels match within lossy-codec rounding."""
    return all(abs(a - b) <= tolerance for a, b in zip(pixel, expected, strict=True))


class TestTgs:
    def test_middle_frame_at_sticker_size(self) -> None:
        decoded = decode_media(tgs(lottie(frames=30)), MAX_PIXELS)
        assert decoded.format == "tgs"
        assert decoded.frame_count == 30
        assert (decoded.width, decoded.height) == (512, 512)
        assert decoded.frame.mode == "RGBA"
        assert decoded.frame.size == (512, 512)
        assert rgba(decoded.frame, (256, 256)) == BLUE  # frame 15; frame 0 is red
        assert rgba(decoded.frame, (5, 5)) == (0, 0, 0, 0)

    def test_canvas_is_fitted_into_512(self) -> None:
        decoded = decode_media(tgs(lottie(width=200, height=100)), MAX_PIXELS)
        assert (decoded.width, decoded.height) == (200, 100)
        assert decoded.frame.size == (512, 256)
        assert decoded.frame.getbbox() == (128, 64, 384, 192)  # the half-size rectangle

    def test_renderer_crash_costs_one_sticker(self) -> None:
        doc = lottie()
        # A precomp that contains itself recurses until rlottie overflows its stack.
        precomp = {"ty": 0, "ind": 2, "refId": "loop", "ip": 0, "op": 30, "st": 0, "w": 9, "h": 9}
        precomp["ks"] = doc["layers"][0]["ks"]
        doc["assets"] = [{"id": "loop", "layers": [precomp]}]
        doc["layers"].append(precomp)
        with pytest.raises(MediaError, match="crashed the renderer"):
            decode_media(tgs(doc), MAX_PIXELS)

    def test_render_timeout(self, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setattr(engine.decoders, "LOTTIE_TIMEOUT_S", 0.001)
        with pytest.raises(MediaError, match="to render"):
            decode_media(tgs(lottie()), MAX_PIXELS)

    def test_renderer_refuses_what_it_cannot_read(self) -> None:
        doc = lottie()
        doc["layers"] = [1, "two"]
        with pytest.raises(MediaError, match="refused"):
            decode_media(tgs(doc), MAX_PIXELS)

    def test_gzip_bomb(self) -> None:
        bomb = gzip.compress(b" " * (engine.decoders.LOTTIE_MAX_JSON_BYTES + 1))
        assert len(bomb) < 20_000
        with pytest.raises(MediaError, match="too large"):
            decode_media(bomb, MAX_PIXELS)

    def test_truncated(self) -> None:
        with pytest.raises(MediaError, match="truncated"):
            decode_media(tgs(lottie())[:-30], MAX_PIXELS)

    def test_corrupt_gzip(self) -> None:
        data = bytearray(tgs(lottie()))
        data[20:40] = b"\xff" * 20
        with pytest.raises(MediaError):
            decode_media(bytes(data), MAX_PIXELS)

    @pytest.mark.parametrize(
        "raw",
        [b"not json", b"\xff\xfe", b'{"layers": [], "w": NaN}', b"[" * 100_000, b"[]", b"{}"],
    )
    def test_not_lottie_json(self, raw: bytes) -> None:
        with pytest.raises(MediaError, match="Lottie"):
            decode_media(gzip.compress(raw), MAX_PIXELS)

    @pytest.mark.parametrize(
        ("key", "value"),
        [("w", 0), ("h", "512"), ("fr", 0), ("op", 0), ("ip", True), ("w", None), ("op", 1e400)],
    )
    def test_bad_header_numbers(self, key: str, value: object) -> None:
        doc = lottie()
        doc[key] = value
        with pytest.raises(MediaError):
            decode_media(tgs(doc), MAX_PIXELS)

    def test_canvas_over_max_pixels(self) -> None:
        with pytest.raises(MediaError, match="too large"):
            decode_media(tgs(lottie(width=2000, height=1000)), MAX_PIXELS)

    def test_too_many_frames(self) -> None:
        doc = lottie()
        doc["op"] = engine.decoders.LOTTIE_MAX_FRAMES + 1
        with pytest.raises(MediaError, match="too long"):
            decode_media(tgs(doc), MAX_PIXELS)


class TestGunzipBounded:
    def test_limit_is_inclusive(self) -> None:
        assert gunzip_bounded(gzip.compress(b"x" * 100), 100) == b"x" * 100

    def test_over_limit(self) -> None:
        with pytest.raises(MediaError, match="too large"):
            gunzip_bounded(gzip.compress(b"x" * 101), 100)


@VP9_ENCODER
class TestWebm:
    @VP9_ALPHA
    def test_middle_frame_keeps_alpha(self) -> None:
        decoded = decode_media(webm([RED, (0, 255, 0, 255), BLUE]), MAX_PIXELS)
        assert decoded.format == "webm"
        assert decoded.frame_count == 3
        assert (decoded.width, decoded.height) == (64, 48)
        assert decoded.frame.mode == "RGBA"
        assert close(rgba(decoded.frame, (10, 20)), (0, 255, 0, 255))
        assert rgba(decoded.frame, (50, 20))[3] == 0

    def test_native_decoder_fallback_is_opaque(self, monkeypatch: pytest.MonkeyPatch) -> None:
        # Why libvpx is preferred: FFmpeg's own VP9 decoder drops the alpha plane.
        monkeypatch.setattr(engine.decoders, "has_decoder", lambda _name: False)
        decoded = decode_media(webm([RED, BLUE, RED]), MAX_PIXELS)
        assert close(rgba(decoded.frame, (10, 20)), BLUE)
        assert rgba(decoded.frame, (50, 20))[3] == 255

    def test_seek_budget_takes_an_earlier_frame(self, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setattr(engine.frames, "SEEK_PIXEL_BUDGET", 64 * 48)
        decoded = decode_media(webm([RED, BLUE, RED, RED, RED]), MAX_PIXELS)
        assert decoded.frame_count == 5
        assert close(rgba(decoded.frame, (10, 20))[:3], BLUE[:3])

    def test_too_many_pixels(self) -> None:
        with pytest.raises(MediaError, match="too large"):
            decode_media(webm([RED]), 64 * 48 - 1)

    def test_too_long(self, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setattr(engine.decoders, "VIDEO_MAX_SECONDS", 0.25)
        with pytest.raises(MediaError, match="too long"):
            decode_media(webm([RED, BLUE, RED]), MAX_PIXELS)  # 0.3 s

    def test_too_many_frames(self, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setattr(engine.decoders, "VIDEO_MAX_FRAMES", 2)
        with pytest.raises(MediaError, match="too long"):
            decode_media(webm([RED, BLUE, RED]), MAX_PIXELS)

    @pytest.mark.parametrize("keep", [5, 40, 100, 0.5])
    def test_truncated(self, keep: float) -> None:
        data = webm([RED, BLUE, RED])
        cut = int(len(data) * keep) if isinstance(keep, float) else keep
        with pytest.raises(MediaError):
            decode_media(data[:cut], MAX_PIXELS)

    def test_garbage_after_magic(self) -> None:
        with pytest.raises(MediaError, match="corrupt"):
            decode_media(b"\x1a\x45\xdf\xa3" + bytes(range(256)) * 4, MAX_PIXELS)

    def test_other_codecs_are_refused(self) -> None:
        out = io.BytesIO()
        with av.open(out, "w", format="matroska") as container:
            stream = container.add_stream("mpeg4", rate=10)
            stream.width, stream.height = 16, 16
            frame = av.VideoFrame.from_ndarray(np.zeros((16, 16, 3), np.uint8), format="rgb24")
            container.mux(stream.encode(frame))
            container.mux(stream.encode(None))
        with pytest.raises(UnsupportedFormatError, match="mpeg4"):
            decode_media(out.getvalue(), MAX_PIXELS)

    def test_no_video_stream(self) -> None:
        out = io.BytesIO()
        with av.open(out, "w", format="matroska") as container:
            stream = container.add_stream("pcm_s16le", rate=8000)
            frame = av.AudioFrame.from_ndarray(np.zeros((1, 800), np.int16), "s16", "mono")
            frame.sample_rate = 8000
            container.mux(stream.encode(frame))
            container.mux(stream.encode(None))
        with pytest.raises(MediaError, match="no video stream"):
            decode_media(out.getvalue(), MAX_PIXELS)
