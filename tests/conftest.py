"""Shared fixtures: real images made with Pillow, for media, ingest and library tests."""

import io
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from PIL import Image

if TYPE_CHECKING:
    from engine.service import SearchService

Color = tuple[int, ...]
ImageMaker = Callable[..., bytes]


def encode(image: Image.Image, fmt: str, **options: object) -> bytes:
    """The bytes of `image` saved in `fmt`."""
    out = io.BytesIO()
    image.save(out, fmt, **options)
    return out.getvalue()


@pytest.fixture
def make_png() -> ImageMaker:
    """make_png(color, size) -> PNG bytes of a solid RGBA image."""

    def make(color: Color = (255, 0, 0, 255), size: tuple[int, int] = (32, 32)) -> bytes:
        return encode(Image.new("RGBA", size, color), "PNG")

    return make


@pytest.fixture
def make_webp() -> ImageMaker:
    """make_webp(color, size) -> lossless WEBP bytes of a solid RGBA image."""

    def make(color: Color = (0, 0, 255, 255), size: tuple[int, int] = (32, 32)) -> bytes:
        return encode(Image.new("RGBA", size, color), "WEBP", lossless=True)

    return make


@pytest.fixture
def make_jpeg() -> ImageMaker:
    """make_jpeg(color, size) -> JPEG bytes of a solid RGB image."""

    def make(color: Color = (0, 200, 0), size: tuple[int, int] = (32, 32)) -> bytes:
        return encode(Image.new("RGB", size, color), "JPEG")

    return make


@pytest.fixture
def make_gif() -> ImageMaker:
    """make_gif(colors, size) -> an animated GIF with one solid frame per color."""

    def make(colors: Sequence[Color], size: tuple[int, int] = (16, 16)) -> bytes:
        frames = [Image.new("RGB", size, c) for c in colors]
        return encode(
            frames[0], "GIF", save_all=True, append_images=frames[1:], duration=50, loop=0
        )

    return make


def lexical_library(data_dir: Path, emoji: Sequence[str], step: int = 40) -> "SearchService":
    """A real library without dense recall (no model load): one solid PNG per given emoji."""
    from engine.ingest import ImportItem
    from engine.service import SearchService
    from engine.settings import CrowdSettings, EngineSettings, SearchSettings, StorageSettings

    def png(seed: int) -> bytes:
        out = io.BytesIO()
        Image.new("RGBA", (16, 16), (seed, 255 - seed, 7, 255)).save(out, "PNG")
        return out.getvalue()

    settings = EngineSettings(
        storage=StorageSettings(data_dir=data_dir),
        search=SearchSettings(dense=False),
        crowd=CrowdSettings(min_users=2),
    )
    service = SearchService.open(settings)
    items = [
        ImportItem(f"{i}.png", lambda i=i: png(i * step), emoji=e) for i, e in enumerate(emoji)
    ]
    service.import_pack(items, "p")
    return service
