"""Paging: the first pages rank a shallow dense recall, a page past it ranks deeper, none repeat."""

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from engine.ingest import ImportItem
from engine.service import SearchService
from engine.settings import EngineSettings, StorageSettings
from engine.types import SearchPage, SearchQuery
from tests.conftest import encode, internals
from tests.contract.test_text_index_sync import HashEmbedder

STICKERS = 130  # more than two pages of neighbours (the shallow recall), fewer than five


def _letters(i: int) -> str:
    return chr(ord("a") + i % 26) + chr(ord("a") + i // 26)


def _png(i: int) -> bytes:
    return encode(Image.new("RGBA", (8, 8), (i % 256, i // 256, 77, 255)), "PNG")


@pytest.fixture
def library(tmp_path: Path) -> Path:
    """130 stickers: ten with a 😀, the rest with a caption like `doodle qa`."""
    items = [
        ImportItem(f"{i}.png", lambda i=i: _png(i), emoji="😀")
        if i < 10
        else ImportItem(f"{i}.png", lambda i=i: _png(i), caption=f"doodle {_letters(i)}")
        for i in range(STICKERS)
    ]
    with SearchService.open(_settings(tmp_path), HashEmbedder("A", 8)) as svc:
        svc.library.import_items(items, "p")
    return tmp_path


def _settings(data_dir: Path) -> EngineSettings:
    return EngineSettings(storage=StorageSettings(data_dir=data_dir))


def _spy_on_k(svc: SearchService) -> list[int]:
    """The k of every query the text index answers from now on."""
    index = internals(svc).text_index
    asked: list[int] = []
    real: Callable[[np.ndarray, int], list[tuple[int, float]]] = index.query

    def query(vector: np.ndarray, k: int) -> list[tuple[int, float]]:
        asked.append(k)
        return real(vector, k)

    index.query = query  # type: ignore[method-assign]
    return asked


def _pages(svc: SearchService, text: str, limit: int = 50) -> list[SearchPage]:
    pages, offset = [], 0
    while offset is not None:
        pages.append(svc.search(SearchQuery("u", text, offset=offset, limit=limit)))
        offset = pages[-1].next_offset
    return pages


def test_a_dense_only_query_pages_through_every_neighbour_once(library: Path) -> None:
    with SearchService.open(_settings(library), HashEmbedder("A", 8)) as svc:
        asked = _spy_on_k(svc)
        first = svc.search(SearchQuery("u", "qzx wvk", limit=50))
        assert asked == [100] and first.total == 100 and first.next_offset == 50
        pages = _pages(svc, "qzx wvk")
    # The second page ends where the shallow recall does: it asks for the whole pool once.
    assert asked == [100, 250]
    ids = [h.id for p in pages for h in p.hits]
    assert len(ids) == len(set(ids)) == STICKERS
    assert [h.id for h in pages[0].hits] == [h.id for h in first.hits]
    assert pages[-1].total == STICKERS and pages[-1].next_offset is None


def test_the_first_two_pages_ask_for_two_pages_of_neighbours_only(library: Path) -> None:
    with SearchService.open(_settings(library), HashEmbedder("A", 8)) as svc:
        asked = _spy_on_k(svc)
        one = svc.search(SearchQuery("u", "grinning face", limit=50))
        two = svc.search(SearchQuery("u", "grinning face", offset=50, limit=50))
        assert asked == [100]
        assert {h.id for h in one.hits[:10]} == {h.id for h in one.hits if h.emoji == "😀"}
        assert not {h.id for h in one.hits} & {h.id for h in two.hits}
        three = svc.search(SearchQuery("u", "grinning face", offset=100, limit=50))
        assert asked == [100, 250]
    seen = [h.id for p in (one, two, three) for h in p.hits]
    assert len(seen) == len(set(seen)) == STICKERS


def test_a_page_past_the_shallow_recall_asked_first_recalls_deep_at_once(library: Path) -> None:
    with SearchService.open(_settings(library), HashEmbedder("A", 8)) as svc:
        asked = _spy_on_k(svc)
        page = svc.search(SearchQuery("u", "qzx wvk", offset=100, limit=50))
        assert asked == [250]
        assert len(page.hits) == STICKERS - 100 and page.next_offset is None


def test_a_deep_ranking_pages_the_same_once_cached(library: Path) -> None:
    with SearchService.open(_settings(library), HashEmbedder("A", 8)) as svc:
        first = [h.id for p in _pages(svc, "qzx wvk", limit=40) for h in p.hits]
        asked = _spy_on_k(svc)
        again = [h.id for p in _pages(svc, "qzx wvk", limit=40) for h in p.hits]
    assert again == first and asked == []
