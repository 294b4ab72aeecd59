"""What each library change touched, so that a snapshot rereads only that.

Every writer records a `Change` inside its own transaction: the revision goes up by one and the
stickers it names get that revision in the marker column of the kind of change (text: document
inputs; meta: handles, NSFW, scope; style: the style vector), removed stickers a tombstone, a
utility recompute its own mark. A snapshot at revision R then reads only what is newer than R
(`pending`). `Database.bump_revision` without a description marks a full rebuild.
"""

from collections.abc import Collection
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from engine.documents import FIELDS
from engine.schema import LibraryState, RemovedSticker, Sticker

IN_CHUNK = 500  # ids per IN (...) list: SQLite limits bound parameters


@dataclass(frozen=True)
class Change:
    """What one write touched (sticker ids, or every sticker of some packs)."""

    text: Collection[int] = ()
    meta: Collection[int] = ()
    style: Collection[int] = ()
    removed: Collection[int] = ()
    text_packs: Collection[int] = ()
    meta_packs: Collection[int] = ()
    utility: bool = False


def next_revision(s: Session) -> int:
    """Bump the library revision inside the caller's transaction; return the new one."""
    s.execute(
        update(LibraryState).where(LibraryState.id == 1).values(revision=LibraryState.revision + 1)
    )
    return int(s.scalar(select(LibraryState.revision).where(LibraryState.id == 1)) or 0)


def record(s: Session, change: Change) -> int:
    """Bump the revision and mark what `change` touched with it; return the revision."""
    revision = next_revision(s)
    for column, ids in (
        (Sticker.text_revision, change.text),
        (Sticker.meta_revision, change.meta),
        (Sticker.style_revision, change.style),
    ):
        _mark(s, column, Sticker.id, sorted(set(ids)), revision)
    _mark(s, Sticker.text_revision, Sticker.pack_id, sorted(set(change.text_packs)), revision)
    _mark(s, Sticker.meta_revision, Sticker.pack_id, sorted(set(change.meta_packs)), revision)
    removed = sorted(set(change.removed))
    for chunk in _chunks(removed):
        s.execute(delete(RemovedSticker).where(RemovedSticker.sticker_id.in_(chunk)))
    s.add_all(RemovedSticker(sticker_id=i, revision=revision) for i in removed)
    if change.utility:
        state = update(LibraryState).where(LibraryState.id == 1)
        s.execute(state.values(utility_revision=revision))
    return revision


def record_unknown(s: Session) -> int:
    """Bump the revision for a change that names nothing: snapshots rebuild in full."""
    revision = next_revision(s)
    state = update(LibraryState).where(LibraryState.id == 1)
    s.execute(state.values(rebuild_revision=revision))
    return revision


def _mark(s: Session, column: Any, key: Any, ids: list[int], revision: int) -> None:
    for chunk in _chunks(ids):
        s.execute(update(Sticker).where(key.in_(chunk)).values({column.key: revision}))


def _chunks(ids: list[int]) -> list[list[int]]:
    return [ids[i : i + IN_CHUNK] for i in range(0, len(ids), IN_CHUNK)]


def document_fields(fields: dict[str, Any] | None) -> dict[str, Any]:
    """The part of an annotation's fields that sticker documents read."""
    return {k: v for k, v in (fields or {}).items() if k in FIELDS}


@dataclass
class Pending:
    """What changed after a snapshot's revision."""

    full: bool = False  # something changed that names no stickers: rebuild everything
    text: set[int] = field(default_factory=set)
    meta: set[int] = field(default_factory=set)
    style: set[int] = field(default_factory=set)
    removed: set[int] = field(default_factory=set)
    utility: bool = False

    @property
    def stickers(self) -> set[int]:
        """Live stickers whose row must be reread."""
        return self.text | self.meta

    @property
    def size(self) -> int:
        """How many stickers changed in any way."""
        return len(self.text | self.meta | self.style | self.removed)


def pending(s: Session, since: int) -> Pending:
    """What changed after revision `since` (NULL markers count as older than any snapshot)."""
    state = s.get(LibraryState, 1)
    out = Pending(
        full=(state.rebuild_revision or 0) > since if state else True,
        utility=(state.utility_revision or 0) > since if state else True,
    )
    # One range read per marker: each uses its own index, where an OR of the three made both
    # SQLite and PostgreSQL scan every sticker (38 ms at 100k, twice per import).
    for column, kind in (
        (Sticker.text_revision, out.text),
        (Sticker.meta_revision, out.meta),
        (Sticker.style_revision, out.style),
    ):
        kind.update(int(i) for i in s.scalars(select(Sticker.id).where(column > since)))
    gone = select(RemovedSticker.sticker_id).where(RemovedSticker.revision > since)
    removed = {int(i) for i in s.scalars(gone)}
    # SQLite may hand a removed sticker's id to a new one: a live row with that id is new.
    reborn = _existing(s, sorted(removed))
    out.removed = removed - reborn
    for kind in (out.text, out.meta, out.style):
        kind.update(reborn)
    return out


def _existing(s: Session, ids: list[int]) -> set[int]:
    found: set[int] = set()
    for chunk in _chunks(ids):
        found.update(int(i) for i in s.scalars(select(Sticker.id).where(Sticker.id.in_(chunk))))
    return found
