"""Field BM25 as people type: completions of the last word and one-typo corrections."""

import pytest

from engine.documents import StickerDocument
from engine.expansion import TypingSettings
from engine.recall import FieldBM25

WEIGHTS = {"emoji_keywords": 1.0, "ocr": 1.0, "pack_title": 0.2}


def doc(sticker_id: int, **fields: str) -> StickerDocument:
    return StickerDocument(sticker_id, fields)


def ranked(bm25: FieldBM25, query: str) -> list[int]:
    return [i for i, _ in bm25.top(query, 10)]


@pytest.fixture(scope="module")
def bm25() -> FieldBM25:
    docs = [
        doc(1, emoji_keywords="happy ; smile"),
        doc(2, emoji_keywords="happyness"),
        doc(3, emoji_keywords="happier ; joy"),
        doc(4, emoji_keywords="sad ; cry"),
        doc(5, emoji_keywords="собака ; пёс"),
        doc(6, emoji_keywords="katze ; tier"),
        doc(7, emoji_keywords="horse"),
        doc(8, emoji_keywords="house"),
        doc(9, emoji_keywords="feu de circulation ; feu"),
        doc(10, emoji_keywords="feu de camp ; feu"),
        doc(11, emoji_keywords="glücklich"),
    ]
    return FieldBM25(docs, WEIGHTS, typing=TypingSettings())


class TestPrefix:
    def test_unfinished_word_finds_its_completions(self, bm25: FieldBM25) -> None:
        assert set(ranked(bm25, "hap")) == {1, 2, 3}
        assert set(ranked(bm25, "happ")) == {1, 2, 3}

    def test_the_most_frequent_completion_ranks_first(self) -> None:
        docs = [doc(1, ocr="happy"), doc(2, ocr="happy"), doc(3, ocr="hapless")]
        bm25 = FieldBM25(docs, WEIGHTS, typing=TypingSettings(completions=1))
        assert ranked(bm25, "hap") == [1, 2]

    def test_exact_word_outranks_its_completions(self, bm25: FieldBM25) -> None:
        assert ranked(bm25, "happy") == [1, 2]  # "happier" does not extend "happy"

    def test_exact_word_in_a_weak_field_still_outranks_completions(self) -> None:
        # BM25 alone would put doc 2 first: a heavier field and a rarer term.
        docs = [
            doc(1, pack_title="happy stuff and more words"),
            doc(2, emoji_keywords="happyness happyness"),
            doc(3, emoji_keywords="sad"),
        ]
        bm25 = FieldBM25(docs, WEIGHTS, typing=TypingSettings())
        assert ranked(bm25, "happy") == [1, 2]

    def test_cyrillic_prefix(self, bm25: FieldBM25) -> None:
        assert ranked(bm25, "соба") == [5]
        assert ranked(bm25, "пе") == []  # two letters: not completed

    def test_german_prefix(self, bm25: FieldBM25) -> None:
        assert ranked(bm25, "katz") == [6]

    def test_accents_typed_or_not(self, bm25: FieldBM25) -> None:
        assert ranked(bm25, "glück") == ranked(bm25, "gluck") == [11]

    def test_one_or_two_letters_are_not_completed(self, bm25: FieldBM25) -> None:
        assert ranked(bm25, "h") == []
        assert ranked(bm25, "ha") == []

    def test_only_the_last_word_is_completed(self, bm25: FieldBM25) -> None:
        assert ranked(bm25, "hap cry") == [4]

    def test_an_unknown_prefix_is_no_exact_match_through_its_stem(self) -> None:
        # "weari" is no word but stems like "weary": it is "wearing" being typed.
        docs = [doc(1, ocr="weary"), doc(2, ocr="wearing"), doc(3, ocr="wearing")]
        bm25 = FieldBM25(docs, WEIGHTS, typing=TypingSettings())
        assert ranked(bm25, "weari") == [2, 3, 1]
        assert ranked(bm25, "weary") == [1]

    def test_phrase_completion_ranks_the_whole_keyword_first(self, bm25: FieldBM25) -> None:
        assert ranked(bm25, "feu de circ")[0] == 9

    def test_without_typing_settings_prefixes_find_nothing(self) -> None:
        bm25 = FieldBM25([doc(1, ocr="happy"), doc(2, ocr="sad")], WEIGHTS)
        assert ranked(bm25, "hap") == []


class TestTypos:
    @pytest.mark.parametrize("typo", ["hapy", "happpy", "hpapy", "hsppy"])
    def test_one_edit_finds_the_word(self, bm25: FieldBM25, typo: str) -> None:
        assert ranked(bm25, typo)[0] == 1

    def test_typo_in_a_word_that_is_not_last(self, bm25: FieldBM25) -> None:
        assert ranked(bm25, "katez tier")[0] == 6

    def test_known_word_is_never_corrected(self, bm25: FieldBM25) -> None:
        # "horse" and "house" are one edit apart: each finds only itself.
        assert ranked(bm25, "horse") == [7]
        assert ranked(bm25, "house") == [8]

    def test_exact_match_never_pushed_down_by_a_fuzzy_one(self) -> None:
        docs = [doc(1, ocr="house"), doc(2, ocr="hoose hoose hoose"), doc(3, ocr="hous")]
        bm25 = FieldBM25(docs, WEIGHTS, typing=TypingSettings())
        assert ranked(bm25, "house")[0] == 1

    def test_typo_in_a_word_being_typed(self, bm25: FieldBM25) -> None:
        assert ranked(bm25, "glucklx")[0] == 11  # "gluckl" with a typo, completed fuzzily

    def test_four_unknown_letters_are_not_completed_fuzzily(self) -> None:
        docs = [doc(1, ocr="wolke"), doc(2, ocr="sad")]
        bm25 = FieldBM25(docs, WEIGHTS, typing=TypingSettings())
        assert ranked(bm25, "wplk") == []
        assert ranked(bm25, "wplke") == [1]  # five letters: a correction

    def test_short_words_are_not_corrected(self, bm25: FieldBM25) -> None:
        assert ranked(bm25, "sab cry") == [4]  # "sab" is not taken for "sad"

    def test_typos_can_be_switched_off(self) -> None:
        docs = [doc(1, ocr="happy"), doc(2, ocr="sad")]
        bm25 = FieldBM25(docs, WEIGHTS, typing=TypingSettings(typos=False))
        assert ranked(bm25, "hpapy") == []
