"""Search as people type, through the facade, on the bundled sample pack (lexical recall)."""

from collections.abc import Iterator
from importlib import resources
from pathlib import Path

import pytest

from engine.recall import FieldBM25
from engine.service import SearchService
from engine.settings import EngineSettings, SearchSettings, StorageSettings
from engine.types import SearchQuery
from tests.conftest import internals


@pytest.fixture(scope="module")
def sample(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SearchService]:
    settings = EngineSettings(
        storage=StorageSettings(data_dir=tmp_path_factory.mktemp("sample")),
        search=SearchSettings(dense=False),
    )
    manifest = Path(str(resources.files("engine.data.sample").joinpath("manifest.jsonl")))
    with SearchService.open(settings) as svc:
        svc.library.import_path(manifest, "sample")
        yield svc


def hits(svc: SearchService, text: str) -> list[int]:
    return [h.id for h in svc.search(SearchQuery("u:typing", text, limit=50)).hits]


def test_exact_query_finds_stickers(sample: SearchService) -> None:
    assert len(hits(sample, "happy")) >= 10


@pytest.mark.parametrize("typed", ["hap", "happ", "hapy", "hpapy", "HAPP"])
def test_unfinished_or_misspelt_word_finds_the_happy_stickers(
    sample: SearchService, typed: str
) -> None:
    assert set(hits(sample, typed)) == set(hits(sample, "happy"))


@pytest.mark.parametrize(
    ("typed", "word"), [("соба", "собака"), ("katz", "katze"), ("kaze", "katze")]
)
def test_other_locales(sample: SearchService, typed: str, word: str) -> None:
    found = hits(sample, word)
    assert found
    assert set(hits(sample, typed)[: len(found)]) == set(found)


def test_two_letters_are_searched_as_typed(sample: SearchService) -> None:
    assert hits(sample, "ha") == []


@pytest.mark.parametrize("word", ["cat", "happy", "heart", "feu"])
def test_completions_come_after_every_exact_match(sample: SearchService, word: str) -> None:
    # The same documents without typing support: the exact matches, in their order.
    documents = internals(sample).fresh_snapshot().documents
    plain = FieldBM25(documents, sample.settings.search.field_weights)
    exact = [i for i, _ in plain.top(word, 50)]
    assert exact
    assert hits(sample, word)[: len(exact)] == exact
