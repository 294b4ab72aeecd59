"""Postable media: animation kept (as is, or as a GIF), a still frame as the last resort."""

import gzip
import io
import json
from pathlib import Path

import pytest
from PIL import Image

from engine.animation import STILL_NOTE, encode_gif, postable_media
from tests.adapters.test_telegram import webm

MAX_PIXELS = 4096 * 4096


def moving_tgs(frames: int = 30) -> bytes:
    """A Lottie square sliding from left to right: every frame differs."""

    def static(k: object) -> dict[str, object]:
        return {"a": 0, "k": k}

    ease = {"x": [0.5], "y": [0.5]}
    start = {"t": 0, "s": [100, 256, 0], "i": ease, "o": ease}
    moving = {"a": 1, "k": [start, {"t": frames, "s": [412, 256, 0]}]}
    shapes = [
        {"ty": "rc", "d": 1, "s": static([150, 150]), "p": static([0, 0])},
        {"ty": "fl", "c": static([0, 0.4, 1, 1]), "o": static(100), "r": 1},
        {"ty": "tr", "p": static([0, 0]), "a": static([0, 0]), "s": static([100, 100])},
    ]
    layer = {
        "ty": 4,
        "ind": 1,
        "ip": 0,
        "op": frames,
        "st": 0,
        "shapes": [{"ty": "gr", "it": shapes}],
    }
    layer["ks"] = {"o": static(100), "p": moving, "a": static([0, 0])}
    doc = {"v": "5.5.2", "fr": 30, "ip": 0, "op": frames, "w": 512, "h": 512, "layers": [layer]}
    return gzip.compress(json.dumps(doc).encode())


def saved(image: Image.Image, fmt: str, **options: object) -> bytes:
    out = io.BytesIO()
    image.save(out, fmt, **options)
    return out.getvalue()


def frames(n: int, size: int = 48) -> list[Image.Image]:
    return [Image.new("RGBA", (size, size), (40 * i, 100, 200 - 30 * i, 255)) for i in range(n)]


@pytest.fixture
def store(tmp_path: Path):  # type: ignore[no-untyped-def]
    """store(bytes, ext) -> (media path, preview path) as the library keeps them."""
    preview = tmp_path / "preview.png"
    preview.write_bytes(saved(Image.new("RGBA", (32, 32), "red"), "PNG"))

    def put(data: bytes, ext: str) -> tuple[str, str]:
        path = tmp_path / f"media.{ext}"
        path.write_bytes(data)
        return str(path), str(preview)

    return put


def opened(data: bytes) -> Image.Image:
    return Image.open(io.BytesIO(data))


def test_gif_and_apng_are_posted_as_they_are(store) -> None:  # type: ignore[no-untyped-def]
    many = frames(4)
    gif = saved(many[0], "GIF", save_all=True, append_images=many[1:], duration=80, loop=0)
    apng = saved(many[0], "PNG", save_all=True, append_images=many[1:], duration=80)
    for data, fmt, name in ((gif, "gif", "sticker.gif"), (apng, "png", "sticker.png")):
        media = postable_media(*store(data, fmt), fmt, 10**7, MAX_PIXELS)
        assert (media.data, media.filename, media.animated, media.note) == (data, name, True, "")


def test_static_images_are_posted_as_they_are(store) -> None:  # type: ignore[no-untyped-def]
    webp = saved(frames(1)[0], "WEBP", lossless=True)
    media = postable_media(*store(webp, "webp"), "webp", 10**7, MAX_PIXELS)
    assert (media.data, media.filename, media.animated) == (webp, "sticker.webp", False)


def test_tgs_becomes_an_animated_gif(store) -> None:  # type: ignore[no-untyped-def]
    media = postable_media(*store(moving_tgs(), "tgs"), "tgs", 10**7, MAX_PIXELS)
    gif = opened(media.data)
    assert (media.filename, media.animated, gif.format) == ("sticker.gif", True, "GIF")
    assert gif.n_frames > 10 and max(gif.size) == 320
    assert gif.info["loop"] == 0 and gif.info["duration"] == 30  # 30 fps, in GIF centiseconds


def test_webm_becomes_an_animated_gif_keeping_transparency(store) -> None:  # type: ignore[no-untyped-def]
    media = postable_media(*store(webm(), "webm"), "webm", 10**7, MAX_PIXELS)
    gif = opened(media.data)
    assert gif.format == "GIF" and gif.n_frames == 3
    # The test video's right half is transparent.
    assert gif.convert("RGBA").getpixel((60, 10))[3] == 0
    assert gif.convert("RGBA").getpixel((5, 10))[3] == 255


def test_animated_webp_becomes_a_gif(store) -> None:  # type: ignore[no-untyped-def]
    many = frames(5)
    webp = saved(many[0], "WEBP", save_all=True, append_images=many[1:], duration=50, loop=0)
    media = postable_media(*store(webp, "webp"), "webp", 10**7, MAX_PIXELS)
    assert media.animated and opened(media.data).n_frames == 5


def test_what_cannot_fit_falls_back_to_the_still_frame_with_a_note(store) -> None:  # type: ignore[no-untyped-def]
    media = postable_media(*store(moving_tgs(), "tgs"), "tgs", 500, MAX_PIXELS)
    assert (media.filename, media.animated, media.note) == ("sticker.png", False, STILL_NOTE)
    broken = postable_media(*store(b"\x1f\x8bnot gzip", "tgs"), "tgs", 10**7, MAX_PIXELS)
    assert broken.note == STILL_NOTE


def test_gif_transparency_is_per_pixel() -> None:
    half = Image.new("RGBA", (4, 1), (255, 0, 0, 255))
    half.putpixel((0, 0), (0, 0, 0, 0))
    half.putpixel((1, 0), (0, 0, 0, 100))
    gif = opened(encode_gif([half, half.transpose(Image.Transpose.FLIP_LEFT_RIGHT)], 50))
    alphas = [gif.convert("RGBA").getpixel((x, 0))[3] for x in range(4)]
    assert alphas == [0, 0, 255, 255]
