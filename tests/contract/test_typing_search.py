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


@pytest.fixture
def crowd(tmp_path: Path) -> Iterator[SearchService]:
    """The sample pack where two users chose the same stickers for the same queries."""
    settings = EngineSettings(
        storage=StorageSettings(data_dir=tmp_path), search=SearchSettings(dense=False)
    )
    manifest = Path(str(resources.files("engine.data.sample").joinpath("manifest.jsonl")))
    with SearchService.open(settings) as svc:
        svc.library.import_path(manifest, "sample")
        yield svc


def test_one_or_two_letters_show_recent_then_popular_stickers(crowd: SearchService) -> None:
    cat, fire, heart = (hits(crowd, word)[0] for word in ("cat", "fire", "heart"))
    for user in ("u:a", "u:b"):
        for word, sticker in (("cat", cat), ("fire", fire)):
            crowd.users.record(user, sticker, "chosen", word)
    crowd.crowd.update_utility()
    crowd.users.record("u:me", heart, "sent")

    def shown(user: str, text: str) -> list[int]:
        return [h.id for h in crowd.search(SearchQuery(user, text, limit=50)).hits]

    assert shown("u:me", "h")[:1] == [heart], "the user's own recent sticker first"
    assert set(shown("u:me", "h")[1:3]) == {cat, fire}, "then the crowd's most useful"
    assert set(shown("u:new", "zq")) == {cat, fire}
    assert crowd.search(SearchQuery("u:new", "", limit=50)).hits == [], "empty stays personal"


def test_a_two_letter_word_still_matches_exactly(crowd: SearchService) -> None:
    exact = hits(crowd, "ok")
    assert exact, "the sample pack has an OK sticker"
    fire = hits(crowd, "fire")[0]
    for user in ("u:a", "u:b"):
        crowd.users.record(user, fire, "chosen", "fire")
    crowd.crowd.update_utility()
    shown = hits(crowd, "ok")
    assert shown[: len(exact)] == exact and fire in shown[len(exact) :]
