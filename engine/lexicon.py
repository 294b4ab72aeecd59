"""Emoji normalisation and CLDR keyword expansion from the vendored emojibase data."""

import gzip
import json
import re
import sys
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from functools import cache
from importlib import resources

from engine.errors import ConfigError

VARIATION_SELECTORS = dict.fromkeys((0xFE0E, 0xFE0F))
SKIN_TONES = dict.fromkeys(range(0x1F3FB, 0x1F400))
AVAILABLE_LOCALES = ("de", "en", "es", "fr", "it", "ja", "ko", "pt", "ru", "zh")
TEXT_CACHE = 65_536  # joined keyword texts kept, by emoji string and locales


def strip_emoji_modifiers(text: str) -> str:
    """Drop variation selectors and skin-tone modifiers, so every variant keys the same emoji."""
    return text.translate(VARIATION_SELECTORS).translate(SKIN_TONES)


def emoji_hexcode(emoji: str) -> str:
    """The emojibase-style hexcode of an emoji, after normalisation (`1F600`, `0023-20E3`)."""
    return "-".join(f"{ord(ch):04X}" for ch in strip_emoji_modifiers(emoji))


@dataclass(frozen=True)
class EmojiEntry:
    """CLDR label and keywords of one emoji in one locale."""

    label: str
    tags: tuple[str, ...]


@cache
def _load_locale(locale: str) -> dict[str, EmojiEntry]:
    if locale not in AVAILABLE_LOCALES:
        raise ConfigError(
            f"Unknown emoji locale {locale!r}; available: {', '.join(AVAILABLE_LOCALES)}"
        )
    blob = resources.files("engine.data.emojibase").joinpath(f"{locale}.json.gz").read_bytes()
    rows = json.loads(gzip.decompress(blob))
    return {
        emoji_hexcode(row["unicode"]): EmojiEntry(row.get("label", ""), tuple(row.get("tags", ())))
        for row in rows
    }


@cache
def _emoji_pattern() -> re.Pattern[str]:
    # Longest first, so a ZWJ sequence or keycap wins over its first code point.
    known = {strip_emoji_modifiers(row) for row in _known_emoji()}
    alternation = "|".join(re.escape(e) for e in sorted(known, key=len, reverse=True) if e)
    # Unknown pictographs still count as emoji, so new Unicode releases are not dropped.
    return re.compile(f"(?:{alternation})|[\U0001f000-\U0001faff\u2600-\u27bf]")


def _known_emoji() -> Iterator[str]:
    rows = json.loads(
        gzip.decompress(
            resources.files("engine.data.emojibase").joinpath("en.json.gz").read_bytes()
        )
    )
    for row in rows:
        yield row["unicode"]


@cache
def _starters() -> frozenset[str]:
    # Every code point an emoji can start with: a C-speed set check skips the slow alternation
    # above for the many keyword texts that hold no emoji at all.
    known = {strip_emoji_modifiers(e)[:1] for e in _known_emoji()} - {""}
    ranges = [*range(0x1F000, 0x1FB00), *range(0x2600, 0x27C0)]
    return frozenset(known | {chr(c) for c in ranges})


def find_emoji(text: str) -> list[tuple[int, int, str]]:
    """(start, end, hexcode) of every emoji in `text`, which must already be modifier-free."""
    if _starters().isdisjoint(text):
        return []
    return [(m.start(), m.end(), emoji_hexcode(m.group())) for m in _emoji_pattern().finditer(text)]


def split_emoji(text: str) -> list[str]:
    """The normalised emoji in a platform's emoji string (Telegram may attach one or several)."""
    clean = strip_emoji_modifiers(text)
    return [clean[s:e] for s, e, _ in find_emoji(clean)]


class Lexicon:
    """CLDR names and keywords of emoji in the configured locales."""

    def __init__(self, locales: Iterable[str]) -> None:
        self.locales = tuple(locales)
        self._tables = [_load_locale(loc) for loc in self.locales]
        self._texts: dict[tuple[str, tuple[str, ...] | None], str] = {}

    def keywords(self, emoji: str, locales: Iterable[str] | None = None) -> list[str]:
        """Labels and keywords of every emoji in `emoji`, in the given or configured locales."""
        tables = self._tables if locales is None else [_load_locale(loc) for loc in locales]
        words: list[str] = []
        for hexcode in (emoji_hexcode(e) for e in split_emoji(emoji)):
            for table in tables:
                entry = table.get(hexcode)
                if entry is not None:
                    words.append(entry.label)
                    words.extend(entry.tags)
        return words

    def keyword_text(self, emoji: str, locales: tuple[str, ...] | None = None) -> str:
        """`keywords` joined by " ; ", one string per emoji (a full build asks once a sticker)."""
        key = (emoji, locales)
        text = self._texts.get(key)
        if text is None:
            if len(self._texts) >= TEXT_CACHE:
                self._texts.clear()  # only odd emoji strings get here: the common ones return
            text = self._texts[key] = sys.intern(" ; ".join(self.keywords(emoji, locales)))
        return text

    def label(self, emoji: str, locale: str = "en") -> str:
        """The CLDR name of one emoji in one locale, or an empty string."""
        entry = _load_locale(locale).get(emoji_hexcode(emoji))
        return entry.label if entry else ""
