"""normalize() and tokenize(): the text pipeline that both documents and queries go through."""

from collections import Counter

import pytest

from engine.text import (
    EMOJI_TOKEN_PREFIX,
    PHRASE_PREFIX,
    STEM_PREFIX,
    normalize,
    phrase_token,
    phrase_tokens,
    tokenize,
)


class TestNormalize:
    def test_nfkc_folds_full_width_latin_and_digits(self) -> None:
        assert normalize("ＡＢＣ１２３") == "abc123"

    def test_full_width_space_counts_as_whitespace(self) -> None:
        assert normalize("Ｈｅｌｌｏ\u3000Ｗｏｒｌｄ") == "hello world"

    def test_casefold_is_stronger_than_lower(self) -> None:
        assert normalize("Straße") == "strasse"
        assert normalize("ΣΊΣΥΦΟΣ") == normalize("σίσυφος")

    def test_whitespace_is_collapsed_and_trimmed(self) -> None:
        assert normalize("  A \t b\n\nc  ") == "a b c"

    def test_variation_selector_fe0f_removed(self) -> None:
        assert normalize("❤️") == "❤"
        assert "\ufe0f" not in normalize("I ❤️ you ☺️")

    @pytest.mark.parametrize(
        "tone", ["\U0001f3fb", "\U0001f3fc", "\U0001f3fd", "\U0001f3fe", "\U0001f3ff"]
    )
    def test_skin_tones_removed(self, tone: str) -> None:
        assert normalize("👍" + tone) == "👍"

    def test_zwj_kept_while_tone_removed(self) -> None:
        assert normalize("👩🏽\u200d💻") == "👩\u200d💻"

    def test_empty(self) -> None:
        assert normalize("") == ""
        assert normalize(" \t\n") == ""

    @pytest.mark.parametrize("emoji", ["‼", "⁉", "ℹ", "™", "Ⓜ", "🈯", "㊗"])
    def test_emoji_with_compatibility_decomposition_kept(self, emoji: str) -> None:
        # NFKC would turn these into letters or CJK characters; emoji are not folded.
        assert normalize(emoji + "\ufe0f") == emoji

    def test_text_around_emoji_still_folded(self) -> None:
        assert normalize("ＡＢ‼️Ｃ ℹ️ Ｄ") == "ab‼c ℹ d"


def emoji_token(hexcode: str) -> str:
    return EMOJI_TOKEN_PREFIX + hexcode


class TestEmojiTokens:
    def test_single_emoji(self) -> None:
        assert tokenize("😀") == [emoji_token("1F600")]

    def test_keycap_with_and_without_fe0f(self) -> None:
        assert tokenize("1️⃣") == ["e:0031-20E3"]
        assert tokenize("1\u20e3") == ["e:0031-20E3"]
        assert tokenize("#️⃣") == ["e:0023-20E3"]

    def test_plain_digits_are_not_keycaps(self) -> None:
        assert tokenize("100") == ["100"]

    def test_adjacent_keycaps_are_separate(self) -> None:
        assert tokenize("1️⃣2️⃣") == ["e:0031-20E3", "e:0032-20E3"]

    def test_zwj_sequence_is_one_token(self) -> None:
        assert tokenize("👨\u200d👩\u200d👧") == ["e:1F468-200D-1F469-200D-1F467"]

    def test_zwj_sequence_with_fe0f(self) -> None:
        assert tokenize("🏳️\u200d🌈") == ["e:1F3F3-200D-1F308"]
        assert tokenize("❤️\u200d🔥") == ["e:2764-200D-1F525"]

    def test_flag_is_one_token(self) -> None:
        assert tokenize("🇯🇵") == ["e:1F1EF-1F1F5"]

    def test_skin_tone_variants_share_the_base_token(self) -> None:
        variants = ["👍", "👍🏻", "👍🏼", "👍🏽", "👍🏾", "👍🏿"]
        assert {tuple(tokenize(v)) for v in variants} == {("e:1F44D",)}

    def test_skin_tone_inside_zwj_sequence(self) -> None:
        assert tokenize("👩🏽\u200d💻") == tokenize("👩\u200d💻") == ["e:1F469-200D-1F4BB"]

    def test_fe0f_variants_share_a_token(self) -> None:
        assert tokenize("❤️") == tokenize("❤") == ["e:2764"]

    def test_emoji_between_words(self) -> None:
        assert tokenize("x😀y") == ["x", stem("x"), "e:1F600", "y", stem("y")]

    def test_repeated_emoji_repeat_tokens(self) -> None:
        assert tokenize("😀😀") == ["e:1F600", "e:1F600"]

    @pytest.mark.parametrize(
        ("emoji", "hexcode"),
        [
            ("‼️", "203C"),
            ("⁉️", "2049"),
            ("ℹ️", "2139"),
            ("™️", "2122"),
            ("Ⓜ️", "24C2"),
            ("🈯", "1F22F"),
            ("㊗️", "3297"),
        ],
    )
    def test_emoji_with_compatibility_decomposition(self, emoji: str, hexcode: str) -> None:
        assert tokenize(emoji) == [emoji_token(hexcode)]
        assert tokenize(f"wow {emoji} ok") == [
            "wow",
            stem("wow"),
            emoji_token(hexcode),
            "ok",
            stem("ok"),
        ]


class TestCjk:
    def test_chinese_unigrams_and_bigrams(self) -> None:
        assert tokenize("我爱猫") == ["我", "爱", "猫", "我爱", "爱猫"]

    def test_single_character_query_matches_document_unigram(self) -> None:
        assert set(tokenize("猫")) <= set(tokenize("我爱猫咪"))

    def test_japanese_kana(self) -> None:
        assert tokenize("ねこ") == ["ね", "こ", "ねこ"]

    def test_korean_hangul(self) -> None:
        assert Counter(tokenize("고양이")) == Counter(["고", "양", "이", "고양", "양이"])

    def test_separate_runs_do_not_form_cross_bigrams(self) -> None:
        tokens = tokenize("猫 犬")
        assert "猫犬" not in tokens
        assert Counter(tokens) == Counter(["猫", "犬"])


def stem(word: str) -> str:
    return STEM_PREFIX + word


class TestWords:
    def test_inflected_word_has_surface_and_prefixed_stem(self) -> None:
        assert tokenize("cats") == ["cats", stem("cat")]
        assert tokenize("running") == ["running", stem("run")]

    def test_two_inflected_forms_share_only_the_stem(self) -> None:
        running, runs = set(tokenize("running")), set(tokenize("runs"))
        assert running & runs == {stem("run")}

    def test_stem_never_collides_with_a_surface_form(self) -> None:
        # "generously" stems to "generous": the stem is prefixed, so it is not the word itself.
        assert tokenize("generously") == ["generously", stem("generous")]
        assert "generous" not in tokenize("generously")
        # Punctuation is not part of a word, so a typed "~" cannot forge a stem token.
        assert tokenize("~cat") == ["cat", stem("cat")]

    @pytest.mark.parametrize(
        ("one", "other"), [("cat", "cats"), ("run", "running"), ("кот", "коты")]
    )
    def test_word_shares_a_token_with_its_other_forms(self, one: str, other: str) -> None:
        assert set(tokenize(one)) & set(tokenize(other))

    def test_accents_folded(self) -> None:
        assert tokenize("café") == tokenize("cafe") == ["cafe", stem("cafe")]
        assert tokenize("Naïve") == tokenize("naive")

    def test_case_and_punctuation(self) -> None:
        assert tokenize("Cats!! and  DOGS") == [
            "cats", stem("cat"), "and", stem("and"), "dogs", stem("dog")
        ]  # fmt: skip

    def test_underscore_splits_words(self) -> None:
        assert tokenize("snake_case") == ["snake", stem("snake"), "case", stem("case")]

    def test_cyrillic_stemming(self) -> None:
        assert tokenize("кошки") == ["кошки", stem("кошк")]
        assert tokenize("кошка") == ["кошка", stem("кошк")]
        assert set(tokenize("кошки")) & set(tokenize("кошка")) == {stem("кошк")}
        assert not set(tokenize("кошки")) & set(tokenize("кошки".replace("к", "x")))

    def test_cyrillic_is_not_accent_folded(self) -> None:
        # NFD would split й into и + breve; Cyrillic words keep their letters.
        assert tokenize("чай")[0] == "чай"

    def test_cyrillic_yo_folds_to_ye(self) -> None:
        assert tokenize("Ёжик") == tokenize("ежик") == ["ежик", stem("ежик")]
        assert tokenize("ёлки") == tokenize("елки")

    def test_empty_and_punctuation_only(self) -> None:
        assert tokenize("") == []
        assert tokenize(" ?! ... ") == []


class TestPhraseTokens:
    def test_phrase_token_is_the_normalised_text(self) -> None:
        assert phrase_token("  Happy   CAT ") == PHRASE_PREFIX + "happy cat"
        assert phrase_token("❤️ Love") == PHRASE_PREFIX + "❤ love"

    def test_phrase_token_differs_from_word_tokens(self) -> None:
        assert phrase_token("cat") not in tokenize("cat")

    def test_field_entries_split_on_separator(self) -> None:
        assert phrase_tokens("happy cat ; Smile ; ❤️") == ["=happy cat", "=smile", "=❤"]

    def test_blank_entries_skipped(self) -> None:
        assert phrase_tokens("") == []
        assert phrase_tokens("cat ;   ; dog") == ["=cat", "=dog"]

    def test_only_spaced_semicolon_separates(self) -> None:
        assert phrase_tokens("cat;dog") == ["=cat;dog"]


class TestMixedScripts:
    def test_latin_cjk_emoji_cyrillic(self) -> None:
        tokens = tokenize("Hello猫咪😀Мир")
        assert Counter(tokens) == Counter(
            ["hello", stem("hello"), "猫", "咪", "猫咪", "e:1F600", "мир", stem("мир")]
        )

    def test_query_and_document_share_tokens_across_scripts(self) -> None:
        document = set(tokenize("Happy cats 😺 猫咪 кошки"))
        for query in ("cats", "😺", "猫", "HAPPY"):
            assert set(tokenize(query)) <= document, query
        # Another form of a word matches through its stem only.
        assert set(tokenize("кошка")) & document == {stem("кошк")}
        assert not set(tokenize("dogs")) & document
