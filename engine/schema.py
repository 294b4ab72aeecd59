"""SQLAlchemy 2 models of the library; the same tables serve SQLite and PostgreSQL."""

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

# SQLite only auto-increments INTEGER PRIMARY KEY; PostgreSQL gets 64-bit ids.
BigId = BigInteger().with_variant(Integer(), "sqlite")


def utcnow() -> datetime:
    """Timezone-aware now, for column defaults."""
    return datetime.now(UTC)


class Base(DeclarativeBase):
    """Declarative base of all tables."""


class Pack(Base):
    """A sticker pack: a Telegram set, a Discord server's stickers or a local folder."""

    __tablename__ = "packs"
    __table_args__ = (UniqueConstraint("source", "name"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    source: Mapped[str] = mapped_column(String(16))  # telegram | discord | local
    name: Mapped[str] = mapped_column(String(128))
    title: Mapped[str] = mapped_column(String(256), default="")
    added_by: Mapped[str] = mapped_column(String(64), default="")
    added_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    nsfw: Mapped[bool] = mapped_column(Boolean, default=False)
    # None: every user of every platform may see the pack; else only callers in this space
    # (a Discord guild "dc-guild:<id>"). Libraries made before the column have NULL: global.
    space: Mapped[str | None] = mapped_column(String(64), default=None)

    stickers: Mapped[list["Sticker"]] = relationship(back_populates="pack")


class Sticker(Base):
    """One sticker image, deduplicated by the sha256 of its original bytes."""

    __tablename__ = "stickers"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    pack_id: Mapped[int] = mapped_column(ForeignKey("packs.id", ondelete="CASCADE"), index=True)
    content_hash: Mapped[str] = mapped_column(String(64), unique=True)
    format: Mapped[str] = mapped_column(String(8))  # webp png jpeg gif tgs webm
    emoji: Mapped[str] = mapped_column(String(64), default="")
    original_name: Mapped[str] = mapped_column(String(512), default="")
    size_bytes: Mapped[int] = mapped_column(Integer)
    width: Mapped[int] = mapped_column(Integer, default=0)
    height: Mapped[int] = mapped_column(Integer, default=0)
    frame_count: Mapped[int] = mapped_column(Integer, default=1)
    media_path: Mapped[str] = mapped_column(String(256))
    preview_path: Mapped[str] = mapped_column(String(256), default="")
    telegram_file_id: Mapped[str | None] = mapped_column(String(256))
    telegram_file_unique_id: Mapped[str | None] = mapped_column(String(64), unique=True)
    discord_sticker_id: Mapped[str | None] = mapped_column(String(32))
    annotation_version: Mapped[int] = mapped_column(Integer, default=0)
    nsfw_score: Mapped[float | None] = mapped_column(Float)
    text_index_hash: Mapped[str] = mapped_column(String(64), default="")
    added_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    # The library revision at which the sticker's document inputs (emoji, annotations, pack
    # title or name), its hit metadata (handles, NSFW, scope) or its style vector last changed:
    # a snapshot rereads only stickers newer than itself (engine/changes.py). NULL: older than
    # any snapshot (libraries made before the columns).
    text_revision: Mapped[int | None] = mapped_column(BigInteger, default=None, index=True)
    meta_revision: Mapped[int | None] = mapped_column(BigInteger, default=None, index=True)
    style_revision: Mapped[int | None] = mapped_column(BigInteger, default=None, index=True)

    pack: Mapped[Pack] = relationship(back_populates="stickers")
    annotations: Mapped[list["Annotation"]] = relationship(
        back_populates="sticker", cascade="all, delete-orphan", passive_deletes=True
    )


class Annotation(Base):
    """What one source (vlm, ocr, history) says about a sticker: text fields and provenance."""

    __tablename__ = "annotations"
    __table_args__ = (UniqueConstraint("sticker_id", "source"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    sticker_id: Mapped[int] = mapped_column(ForeignKey("stickers.id", ondelete="CASCADE"))
    source: Mapped[str] = mapped_column(String(16))
    model: Mapped[str] = mapped_column(String(256), default="")
    version: Mapped[str] = mapped_column(String(64), default="")
    fields: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)

    sticker: Mapped[Sticker] = relationship(back_populates="annotations")


class Interaction(Base):
    """A user picking a sticker from our results (`chosen`) or sending it in a chat (`sent`)."""

    __tablename__ = "interactions"
    __table_args__ = (
        Index("ix_interactions_user_time", "user_key", "created_at"),
        Index("ix_interactions_sticker", "sticker_id"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    platform: Mapped[str] = mapped_column(String(16))
    user_key: Mapped[str] = mapped_column(String(64))
    query: Mapped[str] = mapped_column(Text, default="")
    sticker_id: Mapped[int] = mapped_column(ForeignKey("stickers.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(8))  # chosen | sent
    chat_type: Mapped[str] = mapped_column(String(16), default="")
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class Utility(Base):
    """Crowd metrics of a sticker, recomputed by a job."""

    __tablename__ = "utility"

    sticker_id: Mapped[int] = mapped_column(
        ForeignKey("stickers.id", ondelete="CASCADE"), primary_key=True
    )
    clicks: Mapped[int] = mapped_column(Integer, default=0)
    unique_users: Mapped[int] = mapped_column(Integer, default=0)
    versatility: Mapped[int] = mapped_column(Integer, default=0)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class UserProfile(Base):
    """A user's style clusters and preferences."""

    __tablename__ = "user_profiles"

    user_key: Mapped[str] = mapped_column(String(64), primary_key=True)
    history: Mapped[list[list[float]]] = mapped_column(JSON, default=list)  # [sticker id, weight]
    centroids: Mapped[list[list[float]]] = mapped_column(JSON, default=list)
    radii: Mapped[list[float]] = mapped_column(JSON, default=list)
    history_size: Mapped[int] = mapped_column(Integer, default=0)
    nsfw_opt_in: Mapped[bool] = mapped_column(Boolean, default=False)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class LibraryState(Base):
    """One row: a revision bumped on every change that invalidates search indexes."""

    __tablename__ = "library_state"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    revision: Mapped[int] = mapped_column(BigInteger, default=0)
    # Identity of the text embedder whose vectors the text index holds (None: not yet known).
    text_model: Mapped[str | None] = mapped_column(String(256), nullable=True, default=None)
    # The revision at which every document had a vector from text_model (None: not known), so
    # that a restarted process checks only what changed since instead of hashing every document.
    text_synced_revision: Mapped[int | None] = mapped_column(BigInteger, default=None)
    # The revision of the last utility recompute (snapshots reload priors only after one), and
    # of the last change that said nothing of what it touched (snapshots then rebuild fully).
    utility_revision: Mapped[int | None] = mapped_column(BigInteger, default=None)
    rebuild_revision: Mapped[int | None] = mapped_column(BigInteger, default=None)


class RemovedSticker(Base):
    """A tombstone: a sticker removed at a revision, so that snapshots drop it incrementally."""

    __tablename__ = "removed_stickers"

    sticker_id: Mapped[int] = mapped_column(BigId, primary_key=True)
    revision: Mapped[int] = mapped_column(BigInteger, index=True)


class PackProposal(Base):
    """A pack a user asked the admins to add; deleted once it is approved or imported."""

    __tablename__ = "pack_proposals"
    __table_args__ = (UniqueConstraint("source", "name"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    source: Mapped[str] = mapped_column(String(16))
    name: Mapped[str] = mapped_column(String(128))
    proposed_by: Mapped[str] = mapped_column(String(64), default="")
    proposed_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class JobLease(Base):
    """Which process runs a background job now; a lease past `expires_at` is free to take."""

    __tablename__ = "job_leases"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    holder: Mapped[str] = mapped_column(String(128))  # hostname:pid:random
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
