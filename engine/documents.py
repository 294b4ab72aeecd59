"""The multi-field text document of a sticker, assembled from its emoji and annotations."""

import hashlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
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
)
# Fields that describe meaning; the dense embedding reads these (emoji glyphs mean nothing to it).
DENSE_FIELDS = ("ocr", "vlm_keywords", "vlm_emotion", "vlm_description")


@dataclass(frozen=True)
class StickerDocument:
    """Text per field for one sticker."""

    sticker_id: int
    fields: Mapping[str, str]
    dense_keywords: str = ""

    def dense_text(self) -> str:
        """The text that is embedded for dense recall."""
        parts = [self.dense_keywords, *(self.fields.get(f, "") for f in DENSE_FIELDS)]
        return " ; ".join(p for p in parts if p)

    def dense_hash(self) -> str:
        """Hash of `dense_text`, to re-embed only what changed."""
        return hashlib.sha256(self.dense_text().encode("utf-8")).hexdigest()[:32]


def _as_text(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, Iterable):
        return " ; ".join(str(v) for v in value)
    return "" if value is None else str(value)


def build_document(
    sticker_id: int,
    emoji: str,
    pack_title: str,
    annotation_fields: Iterable[Mapping[str, Any]],
    lexicon: Lexicon,
    dense_locale: str = "en",
) -> StickerDocument:
    """Merge the lexicon expansion of the emoji and every annotation source into one document.

    The dense text takes emoji keywords in `dense_locale` only ("all": every configured locale):
    seven locales of keywords make each document about seven times longer to embed.
    """
    fields: dict[str, list[str]] = {f: [] for f in FIELDS}
    fields["emoji"].append(emoji)
    fields["emoji_keywords"].extend(lexicon.keywords(emoji))
    fields["pack_title"].append(pack_title)
    for source in annotation_fields:
        for name, value in source.items():
            if name in fields:
                fields[name].append(_as_text(value))
    merged = {k: " ; ".join(v for v in vs if v) for k, vs in fields.items()}
    locales = None if dense_locale == "all" else (dense_locale,)  # None: every configured one
    return StickerDocument(sticker_id, merged, " ; ".join(lexicon.keywords(emoji, locales)))
