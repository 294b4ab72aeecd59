"""Platform handles of stickers: which stickers a platform cannot send yet, and storing handles."""

from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select

from engine.changes import Change, record
from engine.errors import InvalidInputError, StickerNotFoundError
from engine.schema import Sticker
from engine.storage import Database
from engine.types import PendingUpload, PlatformHandle


@dataclass(frozen=True)
class HandleColumns:
    """The columns that hold one platform's handles (they may be one column)."""

    send: Any
    unique: Any


PLATFORM_COLUMNS = {
    "telegram": HandleColumns(Sticker.telegram_file_id, Sticker.telegram_file_unique_id),
    "discord": HandleColumns(Sticker.discord_sticker_id, Sticker.discord_sticker_id),
}


def columns(platform: str) -> HandleColumns:
    """The handle columns of a platform; a clear error for an unknown one."""
    try:
        return PLATFORM_COLUMNS[platform]
    except KeyError:
        known = ", ".join(PLATFORM_COLUMNS)
        raise InvalidInputError(f"unknown platform {platform!r} (known: {known})") from None


def pending_uploads(
    db: Database, platform: str, limit: int, exclude: frozenset[int] = frozenset()
) -> list[PendingUpload]:
    """The oldest stickers without a send handle on `platform`, skipping `exclude`.

    Paths are relative to the media root.
    """
    cols = columns(platform)
    query = select(Sticker).where(cols.send.is_(None)).order_by(Sticker.id)
    if exclude:
        query = query.where(Sticker.id.not_in(exclude))
    with db.session() as s:
        return [
            PendingUpload(st.id, st.format, st.media_path, st.preview_path)
            for st in s.scalars(query.limit(limit))
        ]


def upload_backlog(db: Database, platform: str) -> int:
    """How many stickers have no send handle on `platform`."""
    with db.session() as s:
        query = select(func.count()).select_from(Sticker)
        return int(s.scalar(query.where(columns(platform).send.is_(None))) or 0)


def set_handle(db: Database, platform: str, sticker_id: int, handle: PlatformHandle) -> None:
    """Store a sticker's handle on `platform` and mark the snapshot stale."""
    cols = columns(platform)
    with db.session() as s:
        sticker = s.get(Sticker, sticker_id)
        if sticker is None:
            raise StickerNotFoundError(f"No sticker with id {sticker_id}.")
        owner = s.scalar(select(Sticker.id).where(cols.unique == handle.unique_id))
        # A platform may map two of our files to one unique id; the column is unique, so the
        # first owner keeps it and this one gets only a handle to be sent by.
        if owner is None or owner == sticker_id:
            setattr(sticker, cols.unique.key, handle.unique_id)
        if cols.send.key != cols.unique.key:
            setattr(sticker, cols.send.key, handle.send_id)
        # Search hits carry handles from the in-memory snapshot; no text changed.
        record(s, Change(meta=[sticker_id]))


def sticker_by_unique_id(db: Database, platform: str, unique_id: str) -> int | None:
    """The id of the sticker with this unique handle on `platform`, if it is in the library."""
    with db.session() as s:
        found = s.scalar(select(Sticker.id).where(columns(platform).unique == unique_id))
        return int(found) if found is not None else None
