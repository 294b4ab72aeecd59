"""Platform-neutral value types that cross the engine's boundary (re-exported by `engine`)."""

from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

InteractionKind = Literal["chosen", "sent"]
ImportStatus = Literal["added", "unchanged", "duplicate", "failed"]
Progress = Callable[[int, int], None]  # (advance, total)
MAX_USER_KEY = 64
MAX_QUERY_CHARS = 256
MAX_PAGE = 50
MAX_SPACE = 64


@dataclass(frozen=True)
class SearchQuery:
    """A user's search: `user` is a key such as `tg:123`; offset/limit page the ranked list.

    `space` is where the user searches (`dc-guild:123`); packs scoped to another space never
    appear, and None sees only global packs.
    """

    user: str
    text: str
    limit: int = 50
    offset: int = 0
    include_nsfw: bool = False
    space: str | None = None


@dataclass(frozen=True)
class SimilarQuery:
    """Stickers that look like one: a library sticker by id, or any image's bytes.

    Ranked for `user` like a search, paged by offset/limit, within `space`. `text` is an
    optional hint of what a foreign image means (a platform sticker's name).
    """

    user: str
    sticker_id: int | None = None
    image: bytes | None = field(default=None, repr=False)
    text: str = ""
    limit: int = 10
    offset: int = 0
    include_nsfw: bool = False
    space: str | None = None


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


@dataclass(frozen=True)
class Suggestion:
    """A query completion: `stickers` behind it, `chosen` by the crowd, `own` past query."""

    text: str
    stickers: int
    chosen: int
    own: bool = False

    def to_json(self) -> dict[str, Any]:
        """The stable JSON shape documented in the README."""
        return asdict(self)


@dataclass(frozen=True)
class StickerInfo:
    """A sticker as the library lists it; media paths are absolute."""

    id: int
    pack: str
    emoji: str
    file: str
    format: str
    media_path: str
    preview_path: str
    telegram_file_id: str | None = None
    discord_sticker_id: str | None = None
    nsfw: bool = False
    content_hash: str = ""  # sha256 of the original bytes: the dedupe key
    telegram_file_unique_id: str | None = None


@dataclass(frozen=True)
class ImportedFile:
    """What an import did with one file: `sticker_id` is the new, existing or duplicated one."""

    file: str
    status: ImportStatus
    sticker_id: int | None = None
    error: str | None = None

    def to_json(self) -> dict[str, Any]:
        """The stable JSON shape documented in the README (no error key unless it failed)."""
        out: dict[str, Any] = {"file": self.file, "status": self.status}
        out["sticker_id"] = self.sticker_id
        if self.error is not None:
            out["error"] = self.error
        return out


@dataclass
class ImportReport:
    """What an import did, file by file."""

    pack: str
    added: int = 0
    unchanged: int = 0
    duplicates: int = 0
    failed: list[tuple[str, str]] = field(default_factory=list)
    sticker_ids: list[int] = field(default_factory=list)
    files: list[ImportedFile] = field(default_factory=list)

    def record(self, file: str, status: ImportStatus, sticker_id: int | None) -> None:
        """Count one file that was added, unchanged or a duplicate of another pack's sticker."""
        if status == "added":
            self.added += 1
        elif status == "unchanged":
            self.unchanged += 1
        else:
            self.duplicates += 1
        if sticker_id is not None:
            self.sticker_ids.append(sticker_id)
        self.files.append(ImportedFile(file, status, sticker_id))

    def fail(self, file: str, error: str) -> None:
        """Count one file that could not be imported."""
        self.failed.append((file, error))
        self.files.append(ImportedFile(file, "failed", None, error))

    def to_json(self) -> dict[str, Any]:
        """The stable JSON shape documented in the README."""
        return {
            "pack": self.pack,
            "added": self.added,
            "unchanged": self.unchanged,
            "duplicates": self.duplicates,
            "failed": [{"file": f, "error": e} for f, e in self.failed],
            "files": [f.to_json() for f in self.files],
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
    space: str | None = None  # None: global; else the one space that sees it

    def to_json(self) -> dict[str, Any]:
        """The stable JSON shape documented in the README."""
        return asdict(self)


@dataclass(frozen=True)
class ProposalInfo:
    """A pack a user proposed, waiting for an admin."""

    source: str
    name: str
    proposed_by: str
    proposed_at: str


@dataclass(frozen=True)
class InteractionInfo:
    """One thing a user did: chose a sticker from results for a query, or sent one."""

    sticker_id: int
    kind: InteractionKind
    query: str
    platform: str
    chat_type: str
    at: str  # ISO 8601, UTC

    def to_json(self) -> dict[str, Any]:
        """The stable JSON shape documented in the README."""
        return asdict(self)


@dataclass(frozen=True)
class ForgetReport:
    """What forgetting a user deleted."""

    user: str
    interactions: int
    profile: bool


@dataclass
class AnnotateReport:
    """What an annotation run did."""

    annotated: int = 0
    failed: dict[int, str] = field(default_factory=dict)
    remaining: int = 0


@dataclass(frozen=True)
class StickerUtility:
    """A sticker's crowd metrics (PerSRV utility): picks, distinct users, distinct queries."""

    clicks: int
    unique_users: int
    versatility: int


@dataclass(frozen=True)
class LibraryStats:
    """The library's size, for status commands."""

    stickers: int
    packs: int
    revision: int

    def to_json(self) -> dict[str, Any]:
        """The stable JSON shape documented in the README."""
        return asdict(self)


@dataclass(frozen=True)
class EngineStatus:
    """What every bot's /status shows about the library, before platform and job lines."""

    library: LibraryStats
    annotation_backlog: int
    proposals: int

    def lines(self) -> list[str]:
        """One line each, for people."""
        lib = self.library
        return [
            f"Library: {lib.stickers} stickers in {lib.packs} packs",
            f"Annotation backlog: {self.annotation_backlog} stickers",
            f"Pack proposals waiting: {self.proposals}",
        ]


@dataclass(frozen=True)
class PendingUpload:
    """A sticker a platform cannot send yet (no handle there); paths are absolute."""

    sticker_id: int
    format: str
    media_path: str
    preview_path: str


@dataclass(frozen=True)
class PlatformHandle:
    """How a platform addresses a sticker: `send_id` to send it, `unique_id` to recognise it.

    Telegram: file_id (bot-specific) and file_unique_id; Discord: the sticker id for both.
    """

    send_id: str
    unique_id: str
