"""CLDR keyword expansion of emoji from the vendored emojibase data."""

import pytest

from engine.errors import ConfigError
from engine.lexicon import AVAILABLE_LOCALES, Lexicon, emoji_hexcode, split_emoji


@pytest.fixture(scope="module")
def lexicon() -> Lexicon:
    return Lexicon(["en", "ja", "de"])


class TestKeywords:
    def test_english(self, lexicon: Lexicon) -> None:
        words = lexicon.keywords("😀", ["en"])
        assert words[0] == "grinning face"
        assert "happy" in words

    def test_japanese(self, lexicon: Lexicon) -> None:
        words = lexicon.keywords("🐱", ["ja"])
        assert "猫" in words
        assert "cat" not in words

    def test_german(self, lexicon: Lexicon) -> None:
        assert "katze" in lexicon.keywords("🐱", ["de"])

    def test_configured_locales_are_combined(self, lexicon: Lexicon) -> None:
        words = lexicon.keywords("🐱")
        assert {"cat", "猫", "katze"} <= set(words)

    def test_several_emoji_are_expanded(self, lexicon: Lexicon) -> None:
        words = lexicon.keywords("😀🐱", ["en"])
        assert "happy" in words
        assert "cat" in words

    def test_skin_tone_variant_same_keywords(self, lexicon: Lexicon) -> None:
        base = lexicon.keywords("👍", ["en"])
        assert "thumbs up" in base
        for tone in ("🏻", "🏽", "🏿"):
            assert lexicon.keywords("👍" + tone) == lexicon.keywords("👍")

    def test_fe0f_variant_same_keywords(self, lexicon: Lexicon) -> None:
        assert "love" in lexicon.keywords("❤️", ["en"])
        assert lexicon.keywords("❤️") == lexicon.keywords("❤")

    def test_keycap(self, lexicon: Lexicon) -> None:
        assert lexicon.keywords("1️⃣", ["en"]) == lexicon.keywords("1\u20e3", ["en"])
        assert lexicon.keywords("1️⃣", ["en"])

    def test_text_without_emoji_has_no_keywords(self, lexicon: Lexicon) -> None:
        assert lexicon.keywords("hello", ["en"]) == []
        assert lexicon.keywords("") == []

    def test_label(self, lexicon: Lexicon) -> None:
        assert lexicon.label("🐱") == "cat face"
        assert lexicon.label("🐱", "ja") == "ネコの顔"
        assert lexicon.label("x") == ""

    def test_every_available_locale_loads(self) -> None:
        lex = Lexicon(AVAILABLE_LOCALES)
        for locale in AVAILABLE_LOCALES:
            assert lex.keywords("🐱", [locale]), locale


class TestUnknownLocale:
    def test_constructor(self) -> None:
        with pytest.raises(ConfigError, match="xx"):
            Lexicon(["en", "xx"])

    def test_keywords_argument(self, lexicon: Lexicon) -> None:
        with pytest.raises(ConfigError):
            lexicon.keywords("😀", ["klingon"])


class TestSplitEmoji:
    def test_strips_modifiers_and_ignores_text(self) -> None:
        assert split_emoji("😀👍🏽❤️x") == ["😀", "👍", "❤"]

    def test_zwj_and_keycap_stay_whole(self) -> None:
        assert split_emoji("👨\u200d👩\u200d👧1️⃣") == ["👨\u200d👩\u200d👧", "1\u20e3"]

    def test_no_emoji(self) -> None:
        assert split_emoji("") == []
        assert split_emoji("hello 123") == []


class TestEmojiHexcode:
    @pytest.mark.parametrize(
        ("emoji", "hexcode"),
        [
            ("😀", "1F600"),
            ("1️⃣", "0031-20E3"),
            ("#️⃣", "0023-20E3"),
            ("👍🏽", "1F44D"),
            ("❤️", "2764"),
            ("👨\u200d👩\u200d👧", "1F468-200D-1F469-200D-1F467"),
            ("🇯🇵", "1F1EF-1F1F5"),
        ],
    )
    def test_hexcode(self, emoji: str, hexcode: str) -> None:
        assert emoji_hexcode(emoji) == hexcode


def test_the_keyword_text_is_the_keywords_joined_once_per_emoji_and_locales(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    lexicon = Lexicon(["en", "de"])
    text = lexicon.keyword_text("😀")
    assert text == " ; ".join(lexicon.keywords("😀")) and "grinsen" in text
    assert lexicon.keyword_text("😀") is text
    assert lexicon.keyword_text("😀", ("en",)) == " ; ".join(lexicon.keywords("😀", ["en"]))
    assert "grinsen" not in lexicon.keyword_text("😀", ("en",))
    assert lexicon.keyword_text("no emoji here") == ""
    monkeypatch.setattr("engine.lexicon.TEXT_CACHE", 2)
    for emoji in ("😢", "🐱", "🐶"):  # past the bound the cache starts over, answers the same
        assert lexicon.keyword_text(emoji) == " ; ".join(lexicon.keywords(emoji))
    assert len(lexicon._texts) <= 2
