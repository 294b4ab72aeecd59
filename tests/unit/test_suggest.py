"""Query completions: the vocabulary's ranking, the user's own queries, and the facade."""

from collections.abc import Iterator
from pathlib import Path

import pytest

from engine.documents import StickerDocument
from engine.errors import InvalidInputError
from engine.service import SearchService
from engine.suggest import Vocabulary, sticker_counts, suggest
from tests.conftest import lexical_library


def doc(i: int, keywords: str, history: str = "", title: str = "") -> StickerDocument:
    return StickerDocument(
        i, {"emoji_keywords": keywords, "history_queries": history, "pack_title": title}
    )


DOCS = [
    doc(1, "happy ; grinning face ; face", title="Moods"),
    doc(2, "happy ; smiling face ; face", title="Moods"),
    doc(3, "happy ; happiness", title="Moods"),
    doc(4, "hand ; wave", history="hello there", title="Moods"),
    doc(5, "Grinning Cat ; cat", title="Cats"),
]


def test_phrases_count_the_stickers_behind_them() -> None:
    counts = sticker_counts(DOCS)
    assert counts["happy"] == 3 and counts["face"] == 2 and counts["moods"] == 4
    assert counts["grinning cat"] == 1, "entries are normalised (case-folded)"
    assert counts["hello there"] == 1, "learned queries are phrases too"


def test_words_of_file_names_are_phrases_too() -> None:
    named = StickerDocument(6, {"emoji_keywords": "cat", "file_name": "sleepy kitten"})
    assert sticker_counts([*DOCS, named])["sleepy kitten"] == 1
    assert [s.text for s in Vocabulary(sticker_counts([named]), {}).complete("sle", 3)] == [
        "sleepy kitten"
    ]


def test_completions_rank_by_stickers_behind_them() -> None:
    vocab = Vocabulary(sticker_counts(DOCS), {})
    assert [s.text for s in vocab.complete("ha", 3)] == ["happy", "hand", "happiness"]
    assert vocab.complete("happ", 1)[0].stickers == 3


def test_an_exact_phrase_comes_before_its_completions() -> None:
    vocab = Vocabulary(
        sticker_counts([*DOCS, doc(6, "faces"), doc(7, "faces"), doc(8, "faces")]), {}
    )
    assert [s.text for s in vocab.complete("face", 2)] == ["face", "faces"]


def test_crowd_picks_lift_a_phrase() -> None:
    vocab = Vocabulary(sticker_counts(DOCS), {"happiness": 5})
    assert [s.text for s in vocab.complete("happ", 2)] == ["happiness", "happy"]
    assert vocab.complete("happ", 1)[0].chosen == 5


def test_a_later_word_of_a_phrase_completes_too() -> None:
    vocab = Vocabulary(sticker_counts(DOCS), {})
    found = [s.text for s in vocab.complete("gri", 5)]
    assert found[:2] in (["grinning face", "grinning cat"], ["grinning cat", "grinning face"])
    assert [s.text for s in vocab.complete("cat", 5)] == ["cat", "cats", "grinning cat"]


def test_own_past_queries_come_first_and_are_marked() -> None:
    vocab = Vocabulary(sticker_counts(DOCS), {})
    found = suggest(vocab, {"happy monday": 2, "hangry": 1, "cat": 9}, "Ha", 4)
    assert [(s.text, s.own) for s in found] == [
        ("happy monday", True),
        ("hangry", True),
        ("happy", False),
        ("hand", False),
    ]


def test_empty_text_offers_the_most_useful_phrases() -> None:
    vocab = Vocabulary(sticker_counts(DOCS), {"wave": 50})
    assert [s.text for s in vocab.complete("", 2)] == ["wave", "moods"]


def test_nothing_matches_nothing() -> None:
    vocab = Vocabulary(sticker_counts(DOCS), {})
    assert vocab.complete("zebra", 5) == []
    assert suggest(vocab, {}, "zebra", 5) == []


# --- through the facade, on a real library -----------------------------------------------


@pytest.fixture
def svc(tmp_path: Path) -> Iterator[SearchService]:
    service = lexical_library(tmp_path, ["😀", "😃", "🐱", "🐶"])
    yield service
    service.close()


def test_suggest_completes_from_lexicon_keywords_in_every_locale(svc: SearchService) -> None:
    assert "grinning face" in [s.text for s in svc.suggest("u", "grinn", 5)]
    assert any(s.text.startswith("собак") for s in svc.suggest("u", "соба", 5))
    assert any(s.text.startswith("katze") for s in svc.suggest("u", "katz", 5))
    assert all(s.stickers >= 1 for s in svc.suggest("u", "g", 25))


def test_suggest_learns_the_users_queries_and_the_crowds(svc: SearchService) -> None:
    cat = next(s.id for s in svc.library.stickers() if s.emoji == "🐱")
    svc.users.record("alice", cat, "chosen", "Caturday")
    first = svc.suggest("alice", "cat", 3)[0]
    assert (first.text, first.own) == ("caturday", True)
    assert all(not s.own for s in svc.suggest("bob", "cat", 3)), "not another user's"


def test_suggest_validates_its_input(svc: SearchService) -> None:
    with pytest.raises(InvalidInputError):
        svc.suggest("u", "x" * 300, 5)
    with pytest.raises(InvalidInputError):
        svc.suggest("u", "x", 0)
    with pytest.raises(InvalidInputError):
        svc.suggest("", "x", 5)
