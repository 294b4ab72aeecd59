"""The multi-field text document of a sticker, assembled from its emoji and annotations."""

import hashlib
import re
import sys
from collections.abc import Iterable, Mapping
from functools import lru_cache
from pathlib import PurePosixPath
from typing import Any

from engine.lexicon import Lexicon

FIELDS = (
    "emoji",
    "emoji_keywords",
    "ocr",
    "vlm_keywords",
    "vlm_description",
    "vlm_emotion",
    "history_queries",
    "pack_title",
    "pack_name",
    "file_name",
    "caption",
)
# Fields that describe meaning; the dense embedding reads these (emoji glyphs mean nothing to it).
# Learned queries too: through a multilingual model, "sad" learned from English speakers finds
# the sticker for "traurig" (crowd track, 5,000 picks: new users' NDCG@10 0.048 -> 0.086).
DENSE_FIELDS = (
    "ocr",
    "vlm_keywords",
    "vlm_emotion",
    "vlm_description",
    "history_queries",
    "file_name",
    "caption",
)
# Fields that many stickers share word for word (their emoji's, their pack's).
SHARED_FIELDS = frozenset({"emoji", "emoji_keywords", "pack_title", "pack_name"})
_LETTERS = re.compile(r"[^\W\d_]+")
_PART = re.compile(r"[^\W_]+")
_HUMP = re.compile(r"(?<=[a-zа-яё])(?=[A-ZА-ЯЁ])")
_BOT_SUFFIX = re.compile(r"_by_\w+$", re.IGNORECASE)


class StickerDocument:
    """Text per field for one sticker (fields without text are left out).

    One slot per field, not a dict: besides its texts a document took 240 bytes with a dict of
    five fields and takes 136 with slots, 0.1 GB less at 1M stickers. Immutable, and equal when
    every text is.
    """

    __slots__ = ("sticker_id", "dense_keywords", *FIELDS)
    sticker_id: int
    dense_keywords: str

    def __init__(
        self, sticker_id: int, fields: Mapping[str, str], dense_keywords: str = ""
    ) -> None:
        put = object.__setattr__  # a name outside FIELDS is dropped: no index reads it
        put(self, "sticker_id", sticker_id)
        put(self, "dense_keywords", dense_keywords)
        for name in FIELDS:
            put(self, name, fields.get(name) or None)

    def text(self, field: str) -> str:
        """The text of one field ("" when it has none, or is no field)."""
        return getattr(self, field, None) or ""

    @property
    def fields(self) -> dict[str, str]:
        """The fields that have text, by name (a new dict each time)."""
        return {name: text for name in FIELDS if (text := getattr(self, name))}

    def dense_text(self) -> str:
        """The text that is embedded for dense recall."""
        parts = [self.dense_keywords, *(getattr(self, f) for f in DENSE_FIELDS)]
        return " ; ".join(p for p in parts if p)

    def dense_hash(self) -> str:
        """Hash of `dense_text`, to re-embed only what changed."""
        return hashlib.sha256(self.dense_text().encode("utf-8")).hexdigest()[:32]

    def _key(self) -> tuple[Any, ...]:
        return tuple(getattr(self, name) for name in self.__slots__)

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError(f"StickerDocument is immutable ({name})")

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, StickerDocument):
            return NotImplemented
        return self._key() == other._key()

    def __hash__(self) -> int:
        return hash(self._key())

    def __repr__(self) -> str:
        return (
            f"StickerDocument(sticker_id={self.sticker_id}, fields={self.fields!r}, "
            f"dense_keywords={self.dense_keywords!r})"
        )


def _as_text(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, Iterable):
        return " ; ".join(str(v) for v in value)
    return "" if value is None else str(value)


def _hash_like(part: str) -> bool:
    # Content hashes, platform ids and counters name files without saying what they show.
    if any(ch.isdigit() for ch in part):
        return len(part) >= 5 or not _LETTERS.search(part)
    # Base64-like ids (`AgADrcxG`): a piece that is neither lower, UPPER nor Capitalised.
    return any(
        not (p.islower() or p.isupper() or p[1:].islower()) for p in _HUMP.sub(" ", part).split()
    )


def name_words(name: str) -> list[str]:
    """Words of a file or pack name (`happy_cat-02.png` -> happy, cat), hash-like parts dropped."""
    stem = PurePosixPath(name.replace("\\", "/")).stem
    words: list[str] = []
    for part in _PART.findall(stem):
        if not _hash_like(part):
            for run in _LETTERS.findall(part):
                words.extend(w.lower() for w in _HUMP.sub(" ", run).split() if len(w) > 1)
    return words


@lru_cache(maxsize=4096)  # every sticker of a pack asks the same
def pack_name_words(name: str, title: str) -> tuple[str, ...]:
    """Words of a pack's name that its title does not already hold (Telegram's `_by_bot` cut)."""
    words = name_words(_BOT_SUFFIX.sub("", name))
    in_title = {w.lower() for w in _LETTERS.findall(title)}
    return () if set(words) <= in_title else tuple(words)


def build_document(
    sticker_id: int,
    emoji: str,
    pack_title: str,
    annotation_fields: Iterable[Mapping[str, Any]],
    lexicon: Lexicon,
    dense_locale: str = "en",
    *,
    file_name: str = "",
    pack_name: str = "",
) -> StickerDocument:
    """Merge the emoji's keywords, the names and every annotation source into one document.

    The dense text takes emoji keywords in `dense_locale` only ("all": every configured locale):
    seven locales of keywords make each document about seven times longer to embed.
    """
    fields: dict[str, list[str]] = {f: [] for f in FIELDS}
    fields["emoji"].append(emoji)
    fields["emoji_keywords"].append(lexicon.keyword_text(emoji))
    fields["pack_title"].append(pack_title)
    fields["pack_name"].append(" ".join(pack_name_words(pack_name, pack_title)))
    fields["file_name"].append(" ".join(name_words(file_name)))
    for source in annotation_fields:
        for name, value in source.items():
            if name in fields:
                fields[name].append(_as_text(value))
    merged = {
        k: _shared(k, text) for k, vs in fields.items() if (text := " ; ".join(filter(None, vs)))
    }
    locales = None if dense_locale == "all" else (dense_locale,)  # None: every configured one
    return StickerDocument(sticker_id, merged, lexicon.keyword_text(emoji, locales))


def _shared(field: str, text: str) -> str:
    # Stickers of one emoji or pack hold the same long texts (keywords in every locale): one
    # string each, not one per sticker (a document took 1.7 kB at 100k stickers before).
    return sys.intern(text) if field in SHARED_FIELDS else text
