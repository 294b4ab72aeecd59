"""The dense text of a sticker document: which emoji keywords the text model reads."""

from engine.documents import build_document
from engine.lexicon import Lexicon

LEXICON = Lexicon(("en", "de", "ja"))


def test_one_locale_by_default() -> None:
    doc = build_document(1, "🐱", "", [], LEXICON)
    assert "cat" in doc.dense_text() and "Katze" not in doc.dense_text()


def test_all_configured_locales() -> None:
    doc = build_document(1, "🐱", "", [], LEXICON, dense_locale="all")
    assert all(word in doc.dense_text() for word in ("cat", "Katze", "猫"))


def test_annotations_follow_the_keywords() -> None:
    doc = build_document(1, "🐱", "", [{"ocr": "MEOW"}], LEXICON, dense_locale="de")
    assert doc.dense_text().startswith("Katze") and doc.dense_text().endswith("MEOW")


def test_learned_queries_are_read_by_the_text_model() -> None:
    doc = build_document(1, "", "", [{"history_queries": ["sad", "crying"]}], LEXICON)
    assert doc.dense_text() == "sad ; crying"
