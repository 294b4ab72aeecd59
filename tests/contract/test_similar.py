"""Similar stickers: style neighbours first, then content (the same emoji), in one space."""

import io
from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from engine.annotate import AnnotationPipeline
from engine.errors import InvalidInputError, StickerNotFoundError, UserFacingError
from engine.ingest import ImportItem
from engine.service import SearchService
from engine.settings import EngineSettings, SearchSettings, StorageSettings
from engine.types import SimilarQuery
from tests.conftest import internals
from tests.contract.test_personalize import ColourStyle

COLOURS = {"red": (220, 30, 30, 255), "blue": (30, 30, 220, 255), "green": (30, 200, 30, 255)}
EMOJI = ["🐱", "🐶", "🦊"]


def picture(colour: tuple[int, ...], mark: int) -> bytes:
    image = Image.new("RGBA", (16, 16), colour)
    image.putpixel((0, 0), (mark, 0, 0, 255))  # distinct bytes, same look
    out = io.BytesIO()
    image.save(out, "PNG")
    return out.getvalue()


class ColourEmbedder:
    """The style embedder a foreign image gets: the same colour rule as ColourStyle."""

    name, dim = "colour", 3

    def embed(self, images: Sequence[Image.Image]) -> np.ndarray:
        rows = [np.array(i.convert("RGBA").getpixel((8, 8))[:3], np.float32) for i in images]
        return np.stack([r / np.linalg.norm(r) for r in rows])


def library(tmp_path: Path, styled: bool = True) -> SearchService:
    settings = EngineSettings(
        storage=StorageSettings(data_dir=tmp_path), search=SearchSettings(dense=False)
    )
    svc = SearchService.open(settings)
    stickers = [
        ImportItem(f"{c}-{n}.png", lambda c=c, n=n: picture(COLOURS[c], n), emoji=e)
        for n, e in enumerate(EMOJI)
        for c in COLOURS
    ]
    svc.library.import_items(stickers, "zoo")
    svc.library.import_items(
        [ImportItem("secret.png", lambda: picture(COLOURS["red"], 99), emoji="🐱")],
        "secret",
        space="dc-guild:1",
    )
    if styled:
        core = internals(svc)
        AnnotationPipeline(core.db, core.media, [ColourStyle()], core.style_index).run()
    return svc


@pytest.fixture
def svc(tmp_path: Path) -> Iterator[SearchService]:
    service = library(tmp_path)
    yield service
    service.close()


def ids_by_file(svc: SearchService) -> dict[str, int]:
    return {s.file: s.id for s in svc.library.stickers()}


def files(svc: SearchService, query: SimilarQuery) -> list[str]:
    return [h.file for h in svc.similar(query).hits]


def test_similar_to_a_library_sticker_ranks_its_style_then_its_emoji(svc: SearchService) -> None:
    red_cat = ids_by_file(svc)["red-0.png"]
    ranked = files(svc, SimilarQuery("u", sticker_id=red_cat, limit=10))
    assert "red-0.png" not in ranked, "the sticker itself is not its own neighbour"
    assert ranked[:2] == ["red-1.png", "red-2.png"] or ranked[:2] == ["red-2.png", "red-1.png"]
    assert "secret.png" not in ranked, "a pack scoped to a guild stays there"
    # Same emoji, other colours: the content share puts them above unrelated stickers.
    assert set(ranked[2:4]) == {"blue-0.png", "green-0.png"}


def test_similar_in_the_scoped_space_finds_its_pack(svc: SearchService) -> None:
    red_cat = ids_by_file(svc)["red-0.png"]
    ranked = files(svc, SimilarQuery("u", sticker_id=red_cat, space="dc-guild:1"))
    assert ranked[0] == "secret.png", "same colour and same emoji"


def test_image_bytes_of_a_library_sticker_resolve_to_it(svc: SearchService) -> None:
    by_id = files(svc, SimilarQuery("u", sticker_id=ids_by_file(svc)["blue-1.png"]))
    by_bytes = files(svc, SimilarQuery("u", image=picture(COLOURS["blue"], 1)))
    assert by_bytes == by_id and "blue-1.png" not in by_bytes


def test_a_foreign_image_is_embedded_with_the_style_model(
    svc: SearchService, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(internals(svc), "style_embedder", ColourEmbedder)
    greenish = picture((40, 190, 40, 255), 7)
    ranked = files(svc, SimilarQuery("u", image=greenish, limit=3))
    assert all(f.startswith("green-") for f in ranked)
    hinted = files(svc, SimilarQuery("u", image=greenish, text="fox", limit=1))
    assert hinted == ["green-2.png"], "a text hint adds what the image means"


def test_paging_and_validation(svc: SearchService) -> None:
    red_cat = ids_by_file(svc)["red-0.png"]
    first = svc.similar(SimilarQuery("u", sticker_id=red_cat, limit=3))
    second = svc.similar(SimilarQuery("u", sticker_id=red_cat, limit=3, offset=3))
    assert first.next_offset == 3 and not {h.id for h in first.hits} & {h.id for h in second.hits}
    with pytest.raises(InvalidInputError):
        svc.similar(SimilarQuery("u"))
    with pytest.raises(InvalidInputError):
        svc.similar(SimilarQuery("u", sticker_id=red_cat, image=b"x"))
    with pytest.raises(StickerNotFoundError):
        svc.similar(SimilarQuery("u", sticker_id=10**9))


def test_without_styles_a_foreign_image_gets_a_clear_answer(tmp_path: Path) -> None:
    with library(tmp_path, styled=False) as svc:
        with pytest.raises(UserFacingError, match="styles have not been computed"):
            svc.similar(SimilarQuery("u", image=picture((1, 2, 3, 255), 1)))
        red_cat = ids_by_file(svc)["red-0.png"]
        by_content = files(svc, SimilarQuery("u", sticker_id=red_cat))
        assert set(by_content[:2]) == {"blue-0.png", "green-0.png"}, "the same emoji first"
        assert "secret.png" not in by_content
