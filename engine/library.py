"""The sticker library in the database: packs, stickers, interactions and their life cycle."""

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from engine.errors import (
    InvalidInputError,
    PackNotFoundError,
    StickerbotError,
    StickerNotFoundError,
)
from engine.frames import DecodedMedia
from engine.ingest import ImportItem
from engine.media import MediaStore, content_hash, decode_media, render_preview
from engine.schema import Annotation, Interaction, Pack, Sticker, UserProfile, utcnow
from engine.settings import IngestSettings
from engine.storage import Database
from engine.text import normalize
from engine.types import (
    MAX_QUERY_CHARS,
    MAX_SPACE,
    MAX_USER_KEY,
    ForgetReport,
    ImportReport,
    ImportStatus,
    InteractionInfo,
    InteractionKind,
    PackInfo,
    StickerInfo,
)

log = logging.getLogger(__name__)
COMMIT_EVERY = 100
PACK_SOURCES = ("local", "telegram", "discord")
CAPTION_SOURCE = "platform"  # the annotation source of ImportItem.caption
MAX_CAPTION = 512


@dataclass(frozen=True)
class _Prepared:
    item: ImportItem
    digest: str
    data: bytes


def validate_user(user: str) -> str:
    """A user key must be a short non-empty string (`tg:123`, `dc:456`, `alice`)."""
    if not user or len(user) > MAX_USER_KEY or not user.isprintable():
        raise InvalidInputError(f"invalid user key (1-{MAX_USER_KEY} printable characters)")
    return user


def validate_space(space: str | None) -> str | None:
    """A space is None (global) or a short printable key such as `dc-guild:123`."""
    if space is not None and (not space or len(space) > MAX_SPACE or not space.isprintable()):
        raise InvalidInputError(f"invalid space (1-{MAX_SPACE} printable characters)")
    return space


def validate_pack_name(name: str) -> str:
    """Pack names are short and printable."""
    name = name.strip()
    if not name or len(name) > 128 or not name.isprintable():
        raise InvalidInputError("invalid pack name (1-128 printable characters)")
    return name


class Library:
    """Writes and reads of packs, stickers and interactions."""

    def __init__(self, db: Database, media: MediaStore, ingest: IngestSettings) -> None:
        self.db = db
        self.media = media
        self.ingest = ingest

    def _pack(
        self, s: Session, source: str, name: str, title: str, added_by: str, space: str | None
    ) -> Pack:
        pack = s.scalar(select(Pack).where(Pack.source == source, Pack.name == name))
        if pack is None:
            pack = Pack(
                source=source, name=name, title=title or name, added_by=added_by, space=space
            )
            s.add(pack)
            s.flush()
            return pack
        if space is not None and pack.space != space:
            # A space adds only to its own packs: not to another space's, nor to a public one
            # (that would publish its upload to everyone).
            where = "public" if pack.space is None else "shared with another server only"
            raise InvalidInputError(f"The pack {name} is already in the library, {where}.")
        if title:
            pack.title = title
        return pack

    def import_items(
        self,
        pack_name: str,
        items: Sequence[ImportItem],
        *,
        source: str = "local",
        title: str = "",
        added_by: str = "",
        progress: Callable[[int, int], None] | None = None,
        space: str | None = None,
    ) -> ImportReport:
        """Import items into a pack; idempotent by content hash; bad files are reported.

        A new pack is scoped to `space` (None: global); an existing one keeps its scope.
        """
        if source not in PACK_SOURCES:
            raise InvalidInputError(f"unknown pack source {source!r}")
        report = ImportReport(validate_pack_name(pack_name))
        space = validate_space(space)
        with self.db.session() as s:
            pack_id = self._pack(s, source, report.pack, title, added_by, space).id
        for start in range(0, len(items), COMMIT_EVERY):
            batch = items[start : start + COMMIT_EVERY]
            with self.db.session() as s:
                for item in batch:
                    self._import_one(s, pack_id, item, report)
                self.db.bump_revision(s)
            if progress:
                progress(len(batch), len(items))
        return report

    def _import_one(self, s: Session, pack_id: int, item: ImportItem, report: ImportReport) -> None:
        try:
            data = item.read()
            digest = content_hash(data)
            existing = self._find_existing(s, digest, item)
            if existing is not None:
                self._merge_existing(s, existing, pack_id, item, report)
                return
            sticker = self._insert_new(s, _Prepared(item, digest, data), pack_id)
            report.record(item.name, "added", sticker.id)
        except StickerbotError as exc:
            report.fail(item.name, str(exc))
        except Exception as exc:  # one broken file must not abort a pack import
            log.exception("unexpected error importing %s", item.name)
            report.fail(item.name, f"internal error ({exc.__class__.__name__})")

    def _find_existing(self, s: Session, digest: str, item: ImportItem) -> Sticker | None:
        sticker = s.scalar(select(Sticker).where(Sticker.content_hash == digest))
        if sticker is None and item.telegram_file_unique_id:
            # Telegram may serve the same sticker re-encoded: its unique id still identifies it.
            sticker = s.scalar(
                select(Sticker).where(
                    Sticker.telegram_file_unique_id == item.telegram_file_unique_id
                )
            )
        return sticker

    def _merge_existing(
        self, s: Session, sticker: Sticker, pack_id: int, item: ImportItem, report: ImportReport
    ) -> None:
        # Same sticker seen again: keep one row, but learn platform handles it lacked.
        unique_id = item.telegram_file_unique_id
        if unique_id and not sticker.telegram_file_unique_id and not _owned(s, unique_id):
            sticker.telegram_file_unique_id = unique_id
        if unique_id and sticker.telegram_file_unique_id == unique_id:
            sticker.telegram_file_id = item.telegram_file_id or sticker.telegram_file_id
        sticker.discord_sticker_id = sticker.discord_sticker_id or item.discord_sticker_id
        if item.emoji and not sticker.emoji:
            sticker.emoji = item.emoji
        if item.caption:
            _set_caption(s, sticker.id, item.caption)
        status: ImportStatus = "unchanged" if sticker.pack_id == pack_id else "duplicate"
        report.record(item.name, status, sticker.id)

    def _insert_new(self, s: Session, prep: _Prepared, pack_id: int) -> Sticker:
        decoded = decode_media(prep.data, self.ingest.max_pixels)
        preview = render_preview(decoded.frame)
        with s.begin_nested():
            sticker = _sticker_row(prep, pack_id, decoded)
            s.add(sticker)
            s.flush()  # constraint violations surface here, before any file is written
            try:
                sticker.media_path = self.media.put("media", prep.digest, decoded.format, prep.data)
                sticker.preview_path = self.media.put("previews", prep.digest, "png", preview)
                s.flush()
            except BaseException:
                self.media.delete(sticker.media_path)
                self.media.delete(sticker.preview_path)
                raise
            if prep.item.caption:
                _set_caption(s, sticker.id, prep.item.caption)
        return sticker

    def packs(self) -> list[PackInfo]:
        """Every pack with its sticker count, oldest first."""
        with self.db.session() as s:
            counts = dict(
                s.execute(select(Sticker.pack_id, func.count()).group_by(Sticker.pack_id)).all()
            )
            return [
                _pack_info(p, counts.get(p.id, 0))
                for p in s.scalars(select(Pack).order_by(Pack.id))
            ]

    def counts(self) -> tuple[int, int]:
        """How many stickers and packs the library holds."""
        with self.db.session() as s:
            stickers = s.scalar(select(func.count()).select_from(Sticker)) or 0
            packs = s.scalar(select(func.count()).select_from(Pack)) or 0
        return int(stickers), int(packs)

    def stickers(self, pack: str | None, nsfw_threshold: float) -> list[StickerInfo]:
        """Every sticker (of one pack, if named) by id; media paths relative to the root."""
        query = select(Sticker, Pack).join(Pack).order_by(Sticker.id)
        if pack is not None:
            query = query.where(Pack.name == pack)
        with self.db.session() as s:
            return [_sticker_info(st, p, nsfw_threshold) for st, p in s.execute(query)]

    def remove_pack(self, name: str, source: str | None = None) -> list[int]:
        """Delete a pack and its stickers; return the removed sticker ids."""
        with self.db.session() as s:
            pack = _one_pack(s, name, source)
            stickers = list(s.scalars(select(Sticker).where(Sticker.pack_id == pack.id)))
            removed = [st.id for st in stickers]
            paths = [p for st in stickers for p in (st.media_path, st.preview_path)]
            s.execute(delete(Sticker).where(Sticker.pack_id == pack.id))
            s.delete(pack)
            self.db.bump_revision(s)
        for path in paths:
            self.media.delete(path)
        return removed

    def set_pack_nsfw(self, name: str, nsfw: bool, source: str | None = None) -> None:
        """Mark a whole pack NSFW (hidden from users who did not opt in), or clear the mark."""
        with self.db.session() as s:
            _one_pack(s, name, source).nsfw = nsfw
            self.db.bump_revision(s)

    def set_pack_space(self, name: str, space: str | None, source: str | None = None) -> None:
        """Scope a pack to one space, or make it global (None)."""
        space = validate_space(space)
        with self.db.session() as s:
            _one_pack(s, name, source).space = space
            self.db.bump_revision(s)

    def interactions(self, user: str) -> list[InteractionInfo]:
        """Everything stored about what a user chose and sent, oldest first."""
        query = select(Interaction).where(Interaction.user_key == validate_user(user))
        with self.db.session() as s:
            return [_interaction_info(r) for r in s.scalars(query.order_by(Interaction.id))]

    def record_interaction(
        self,
        user: str,
        sticker_id: int,
        kind: InteractionKind,
        query: str = "",
        platform: str = "cli",
        chat_type: str = "",
    ) -> int:
        """Store that `user` chose or sent a sticker; return the interaction id."""
        if kind not in ("chosen", "sent"):
            raise InvalidInputError("interaction kind must be 'chosen' or 'sent'")
        with self.db.session() as s:
            if s.get(Sticker, sticker_id) is None:
                raise StickerNotFoundError(f"No sticker with id {sticker_id}.")
            row = Interaction(
                platform=platform,
                user_key=validate_user(user),
                query=query[:MAX_QUERY_CHARS],
                sticker_id=sticker_id,
                kind=kind,
                chat_type=chat_type,
            )
            s.add(row)
            s.flush()
            return row.id

    def forget_user(self, user: str) -> ForgetReport:
        """Delete every interaction and the profile of a user."""
        with self.db.session() as s:
            result = s.execute(
                delete(Interaction).where(Interaction.user_key == validate_user(user))
            )
            profile = s.get(UserProfile, user)
            if profile is not None:
                s.delete(profile)
            return ForgetReport(user, int(getattr(result, "rowcount", 0) or 0), profile is not None)

    def query_counts(self, user: str | None = None) -> dict[str, int]:
        """How often each normalised query led to a pick (by one user, or by everyone)."""
        query = select(Interaction.query, func.count()).where(
            Interaction.kind == "chosen", Interaction.query != ""
        )
        if user is not None:
            query = query.where(Interaction.user_key == validate_user(user))
        counts: dict[str, int] = {}
        with self.db.session() as s:
            for text, n in s.execute(query.group_by(Interaction.query)):
                key = normalize(text)
                counts[key] = counts.get(key, 0) + int(n)
        return counts

    def recent_stickers(self, user: str, limit: int) -> list[int]:
        """The user's stickers by last use, then by count: what an empty query shows."""
        with self.db.session() as s:
            rows = s.execute(
                select(Interaction.sticker_id, func.max(Interaction.created_at), func.count())
                .where(Interaction.user_key == user)
                .group_by(Interaction.sticker_id)
                .order_by(func.max(Interaction.created_at).desc(), func.count().desc())
                .limit(limit)
            )
            return [int(r[0]) for r in rows]


def _one_pack(s: Session, name: str, source: str | None) -> Pack:
    query = select(Pack).where(Pack.name == name)
    if source:
        query = query.where(Pack.source == source)
    packs = list(s.scalars(query))
    if not packs:
        raise PackNotFoundError(f"No pack named {name!r} in the library.")
    if len(packs) > 1:
        raise InvalidInputError(f"Several packs are named {name!r}; name the source too.")
    return packs[0]


def _owned(s: Session, telegram_file_unique_id: str) -> bool:
    query = select(Sticker.id).where(Sticker.telegram_file_unique_id == telegram_file_unique_id)
    return s.scalar(query) is not None


def _set_caption(s: Session, sticker_id: int, caption: str) -> None:
    # Kept as an annotation of its own source, so the document builder reads it like OCR text.
    query = select(Annotation).where(
        Annotation.sticker_id == sticker_id, Annotation.source == CAPTION_SOURCE
    )
    row = s.scalar(query)
    if row is None:
        row = Annotation(sticker_id=sticker_id, source=CAPTION_SOURCE)
        s.add(row)
    row.fields = {"caption": caption[:MAX_CAPTION]}
    row.updated_at = utcnow()


def _sticker_row(prep: _Prepared, pack_id: int, decoded: DecodedMedia) -> Sticker:
    return Sticker(
        pack_id=pack_id,
        content_hash=prep.digest,
        format=decoded.format,
        emoji=prep.item.emoji,
        original_name=prep.item.name[:512],
        size_bytes=len(prep.data),
        width=decoded.width,
        height=decoded.height,
        frame_count=decoded.frame_count,
        media_path="",
        preview_path="",
        telegram_file_id=prep.item.telegram_file_id,
        telegram_file_unique_id=prep.item.telegram_file_unique_id,
        discord_sticker_id=prep.item.discord_sticker_id,
    )


def _pack_info(pack: Pack, count: int) -> PackInfo:
    return PackInfo(
        pack.id,
        pack.source,
        pack.name,
        pack.title,
        count,
        pack.added_by,
        pack.added_at.isoformat(timespec="seconds"),
        pack.nsfw,
        pack.space,
    )


def _sticker_info(st: Sticker, pack: Pack, nsfw_threshold: float) -> StickerInfo:
    nsfw = pack.nsfw or (st.nsfw_score or 0.0) >= nsfw_threshold
    return StickerInfo(
        st.id, pack.name, st.emoji, st.original_name, st.format, st.media_path,
        st.preview_path, st.telegram_file_id, st.discord_sticker_id, nsfw, st.content_hash,
        st.telegram_file_unique_id,
    )  # fmt: skip


def _interaction_info(row: Interaction) -> InteractionInfo:
    kind: InteractionKind = "sent" if row.kind == "sent" else "chosen"
    at = row.created_at.isoformat(timespec="seconds")
    return InteractionInfo(row.sticker_id, kind, row.query, row.platform, row.chat_type, at)
