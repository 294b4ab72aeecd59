"""Shared fixtures: real images made with Pillow, for media, ingest and library tests."""

import io
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from PIL import Image

if TYPE_CHECKING:
    from engine.core import Core
    from engine.service import SearchService

Color = tuple[int, ...]
ImageMaker = Callable[..., bytes]
# A test using one of these fixtures loads a real model or the dev data: it is slow.
SLOW_FIXTURES = frozenset(
    {"reader", "scorer", "gram_embedder", "pooled_embedder", "devset", "chroma_server_address"}
)
# Modules whose every test loads a real model, imports the dev data or runs the whole product.
SLOW_MODULES = frozenset(
    {"test_eval.py", "test_demo.py", "test_telegram_e2e.py", "test_ocr.py", "test_nsfw.py"}
)


@pytest.fixture(scope="session")
def chroma_server_address(tmp_path_factory: pytest.TempPathFactory) -> "Iterator[tuple[str, int]]":
    """(host, port) of a real Chroma server started for this test session."""
    from tests.chroma_server import chroma_server

    with chroma_server(tmp_path_factory.mktemp("chroma-server") / "db") as address:
        yield address


@pytest.fixture(scope="session")
def postgres_url() -> "Iterator[str]":
    """A PostgreSQL URL: $STICKERBOT_TEST_POSTGRES_URL, else a cluster started for the session.

    Skips where PostgreSQL is not installed; CI installs it (see .ci/run).
    """
    import os

    from tests.postgres_server import postgres_server, server_binaries

    if os.environ.get("STICKERBOT_TEST_POSTGRES_URL"):
        yield os.environ["STICKERBOT_TEST_POSTGRES_URL"]
        return
    if server_binaries() is None:
        pytest.skip("PostgreSQL is not installed (apt-get install postgresql)")
    with postgres_server() as url:
        yield url


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark the heavy tests `slow`, so that `pytest -m "not slow"` is a fast inner loop."""
    for item in items:
        fixtures = set(getattr(item, "fixturenames", ()))
        if fixtures & SLOW_FIXTURES or item.path.name in SLOW_MODULES:
            item.add_marker(pytest.mark.slow)


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
    service.library.import_items(items, "p")
    return service


def internals(svc: "SearchService") -> "Core":
    """The facade's shared state, for tests that set up what the surface cannot express.

    Product code never does this: outside the engine only `engine`'s public names are used.
    """
    return svc._core
