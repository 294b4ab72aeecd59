"""Sticker documents: words of file and pack names as fields of their own."""

import pytest

from engine.documents import StickerDocument, build_document, name_words, pack_name_words
from engine.lexicon import Lexicon
from engine.recall import FieldBM25
from engine.settings import DEFAULT_FIELD_WEIGHTS


@pytest.mark.parametrize(
    ("name", "words"),
    [
        ("happy_cat-02.png", ["happy", "cat"]),
        ("packs/HappyCat.webp", ["happy", "cat"]),
        ("Sad Dog (1).gif", ["sad", "dog"]),
        ("кот_счастливый.webp", ["кот", "счастливый"]),
        ("cat2.png", ["cat"]),
        ("stickers/687032c80695d3687df1.webp", []),  # the dev set's content hashes
        ("AgADBAADr6cxG.webp", []),  # a Telegram file_unique_id
        ("AgADrcxGAAA.webp", []),
        ("0042.png", []),
    ],
)
def test_name_words(name: str, words: list[str]) -> None:
    assert name_words(name) == words


def test_pack_name_without_the_bot_suffix() -> None:
    assert pack_name_words("HappyCats_by_stickerbot", "Best pack") == ("happy", "cats")


def test_pack_name_already_in_the_title_adds_nothing() -> None:
    assert pack_name_words("HappyCats_by_stickerbot", "Happy Cats") == ()
    assert pack_name_words("eval-lexicon", "eval-lexicon") == ()


def test_document_fields_and_search_by_file_name() -> None:
    lexicon = Lexicon(["en"])
    docs = [
        build_document(1, "", "Pack", [], lexicon, file_name="grumpy_owl.png", pack_name="birds"),
        build_document(2, "", "Pack", [], lexicon, file_name="5f3a9c0e11.png", pack_name="birds"),
    ]
    assert docs[0].fields.get("file_name") == "grumpy owl"
    assert docs[0].fields.get("pack_name") == "birds"
    assert "file_name" not in docs[1].fields  # fields without text are left out
    assert "grumpy owl" in docs[0].dense_text()
    bm25 = FieldBM25(docs, DEFAULT_FIELD_WEIGHTS)
    assert [i for i, _ in bm25.top("owl", 10)] == [1]
    assert [i for i, _ in bm25.top("birds", 10)] == [1, 2]


def test_stickers_of_one_emoji_and_pack_share_their_long_texts() -> None:
    lexicon = Lexicon(("en", "de", "ru"))
    one, two = (
        build_document(i, "😀", "Happy faces", [{"ocr": f"text {i}"}], lexicon, file_name=name)
        for i, name in ((1, "a.png"), (2, "b.png"))
    )
    # One string per emoji and pack, not one per sticker: at 100k stickers a document took
    # 1.7 kB before, about 0.5 kB after.
    for field in ("emoji_keywords", "pack_title"):
        assert one.fields[field] == two.fields[field] and one.fields[field] is two.fields[field]
    assert one.dense_keywords is two.dense_keywords
    assert (one.fields["ocr"], two.fields["ocr"]) == ("text 1", "text 2")
    assert "file_name" not in one.fields  # "a" is too short to be a word: no field at all


def test_a_document_keeps_its_texts_in_slots_and_compares_by_them() -> None:
    one = StickerDocument(1, {"ocr": "hello", "emoji": "😀", "caption": ""}, "grinning face")
    same = StickerDocument(1, {"emoji": "😀", "ocr": "hello"}, "grinning face")
    assert one == same and hash(one) == hash(same)  # the order of the fields does not matter
    assert one.fields == {"emoji": "😀", "ocr": "hello"}  # an empty text is no field
    assert (one.text("ocr"), one.text("caption"), one.text("not_a_field")) == ("hello", "", "")
    assert one != StickerDocument(1, {"emoji": "😀", "ocr": "hullo"}, "grinning face")
    assert one != StickerDocument(2, {"emoji": "😀", "ocr": "hello"}, "grinning face")
    assert StickerDocument(3, {"not_a_field": "cat"}).fields == {}  # nothing would index it
    with pytest.raises(AttributeError):
        one.sticker_id = 5  # type: ignore[misc]
    assert not hasattr(one, "__dict__")  # slots only: no per-document dict
    assert "hello" in repr(one) and one.dense_text() == "grinning face ; hello"
