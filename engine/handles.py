"""Platform handles of stickers: which stickers still need uploading, and storing the result."""

from dataclasses import dataclass

from sqlalchemy import func, select

from engine.errors import StickerNotFoundError
from engine.schema import Sticker
from engine.storage import Database


@dataclass(frozen=True)
class PendingUpload:
    """A sticker with no Telegram file_id yet; paths are relative to the media root."""

    sticker_id: int
    format: str
    media_path: str
    preview_path: str


def pending_uploads(
    db: Database, limit: int, exclude: frozenset[int] = frozenset()
) -> list[PendingUpload]:
    """The oldest stickers without a Telegram file_id, skipping `exclude`."""
    query = select(Sticker).where(Sticker.telegram_file_id.is_(None)).order_by(Sticker.id)
    if exclude:
        query = query.where(Sticker.id.not_in(exclude))
    with db.session() as s:
        return [
            PendingUpload(st.id, st.format, st.media_path, st.preview_path)
            for st in s.scalars(query.limit(limit))
        ]


def upload_backlog(db: Database) -> int:
    """How many stickers have no Telegram file_id."""
    with db.session() as s:
        query = select(func.count()).select_from(Sticker)
        return int(s.scalar(query.where(Sticker.telegram_file_id.is_(None))) or 0)


def set_telegram_handles(db: Database, sticker_id: int, file_id: str, unique_id: str) -> None:
    """Store a sticker's Telegram file_id and file_unique_id and mark the snapshot stale."""
    with db.session() as s:
        sticker = s.get(Sticker, sticker_id)
        if sticker is None:
            raise StickerNotFoundError(f"No sticker with id {sticker_id}.")
        owner = s.scalar(select(Sticker.id).where(Sticker.telegram_file_unique_id == unique_id))
        # Telegram may map two of our files to one unique id; the column is unique, so the
        # first owner keeps it and this one gets only a file_id to be sent by.
        if owner is None or owner == sticker_id:
            sticker.telegram_file_unique_id = unique_id
        sticker.telegram_file_id = file_id
        db.bump_revision(s)  # search hits carry file_ids from the in-memory snapshot


def sticker_by_telegram_unique_id(db: Database, unique_id: str) -> int | None:
    """The id of the sticker with this Telegram file_unique_id, if it is in the library."""
    with db.session() as s:
        query = select(Sticker.id).where(Sticker.telegram_file_unique_id == unique_id)
        found = s.scalar(query)
        return int(found) if found is not None else None
