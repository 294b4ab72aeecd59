"""Platform-neutral value types that cross the engine's boundary."""

from dataclasses import asdict, dataclass, field
from typing import Any, Literal

InteractionKind = Literal["chosen", "sent"]
MAX_USER_KEY = 64
MAX_QUERY_CHARS = 256


@dataclass(frozen=True)
class SearchQuery:
    """A user's search: `user` is a key such as `tg:123`; offset/limit page the ranked list."""

    user: str
    text: str
    limit: int = 50
    offset: int = 0
    include_nsfw: bool = False


@dataclass(frozen=True)
class StickerHit:
    """One ranked result."""

    id: int
    score: float
    pack: str
    emoji: str
    file: str
    format: str
    media_path: str
    preview_path: str
    telegram_file_id: str | None = None
    discord_sticker_id: str | None = None

    def to_json(self) -> dict[str, Any]:
        """The stable JSON shape documented in the README."""
        return asdict(self)


@dataclass(frozen=True)
class SearchPage:
    """A page of hits; `next_offset` is None on the last page."""

    hits: list[StickerHit]
    next_offset: int | None
    total: int


@dataclass
class ImportReport:
    """What an import did, file by file."""

    pack: str
    added: int = 0
    unchanged: int = 0
    duplicates: int = 0
    failed: list[tuple[str, str]] = field(default_factory=list)
    sticker_ids: list[int] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        """The stable JSON shape documented in the README."""
        return {
            "pack": self.pack,
            "added": self.added,
            "unchanged": self.unchanged,
            "duplicates": self.duplicates,
            "failed": [{"file": f, "error": e} for f, e in self.failed],
        }


@dataclass(frozen=True)
class PackInfo:
    """A pack as listed to admins."""

    id: int
    source: str
    name: str
    title: str
    stickers: int
    added_by: str
    added_at: str
    nsfw: bool

    def to_json(self) -> dict[str, Any]:
        """The stable JSON shape documented in the README."""
        return asdict(self)


@dataclass(frozen=True)
class ForgetReport:
    """What `forget_user` deleted."""

    user: str
    interactions: int
    profile: bool
