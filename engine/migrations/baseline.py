"""The schema of the baseline revision, frozen: what `create_all` made before migrations existed.

Kept apart from engine/schema.py on purpose: the models move on, while the baseline revision
(and the bridge that brings pre-migration libraries to it) must keep creating exactly this.
Python-side defaults are kept too: the bridge fills columns it adds with them.
"""

from datetime import UTC, datetime

import sqlalchemy as sa

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
Stamp = sa.DateTime(timezone=True)


def _now() -> datetime:
    return datetime.now(UTC)


def baseline_metadata() -> sa.MetaData:
    """A new MetaData holding the baseline's tables."""
    meta = sa.MetaData()
    _packs(meta)
    _stickers(meta)
    _annotations(meta)
    _interactions(meta)
    _utility(meta)
    _user_profiles(meta)
    _library_state(meta)
    _pack_proposals(meta)
    return meta


def _packs(meta: sa.MetaData) -> None:
    sa.Table(
        "packs",
        meta,
        sa.Column("id", BigId, primary_key=True),
        sa.Column("source", sa.String(16), nullable=False),
        sa.Column("name", sa.String(128), nullable=False),
        sa.Column("title", sa.String(256), nullable=False, default=""),
        sa.Column("added_by", sa.String(64), nullable=False, default=""),
        sa.Column("added_at", Stamp, nullable=False, default=_now),
        sa.Column("nsfw", sa.Boolean, nullable=False, default=False),
        sa.Column("space", sa.String(64), nullable=True),
        sa.UniqueConstraint("source", "name"),
    )


def _stickers(meta: sa.MetaData) -> None:
    sa.Table(
        "stickers",
        meta,
        sa.Column("id", BigId, primary_key=True),
        sa.Column(
            "pack_id",
            sa.ForeignKey("packs.id", ondelete="CASCADE"),
            nullable=False,
            index=True,
        ),
        sa.Column("content_hash", sa.String(64), nullable=False, unique=True),
        sa.Column("format", sa.String(8), nullable=False),
        sa.Column("emoji", sa.String(64), nullable=False, default=""),
        sa.Column("original_name", sa.String(512), nullable=False, default=""),
        sa.Column("size_bytes", sa.Integer, nullable=False),
        sa.Column("width", sa.Integer, nullable=False, default=0),
        sa.Column("height", sa.Integer, nullable=False, default=0),
        sa.Column("frame_count", sa.Integer, nullable=False, default=1),
        sa.Column("media_path", sa.String(256), nullable=False),
        sa.Column("preview_path", sa.String(256), nullable=False, default=""),
        sa.Column("telegram_file_id", sa.String(256), nullable=True),
        sa.Column("telegram_file_unique_id", sa.String(64), nullable=True, unique=True),
        sa.Column("discord_sticker_id", sa.String(32), nullable=True),
        sa.Column("annotation_version", sa.Integer, nullable=False, default=0),
        sa.Column("nsfw_score", sa.Float, nullable=True),
        sa.Column("text_index_hash", sa.String(64), nullable=False, default=""),
        sa.Column("added_at", Stamp, nullable=False, default=_now),
    )


def _annotations(meta: sa.MetaData) -> None:
    sa.Table(
        "annotations",
        meta,
        sa.Column("id", BigId, primary_key=True),
        sa.Column("sticker_id", sa.ForeignKey("stickers.id", ondelete="CASCADE"), nullable=False),
        sa.Column("source", sa.String(16), nullable=False),
        sa.Column("model", sa.String(256), nullable=False, default=""),
        sa.Column("version", sa.String(64), nullable=False, default=""),
        sa.Column("fields", sa.JSON, nullable=False, default=dict),
        sa.Column("updated_at", Stamp, nullable=False, default=_now),
        sa.UniqueConstraint("sticker_id", "source"),
    )


def _interactions(meta: sa.MetaData) -> None:
    sa.Table(
        "interactions",
        meta,
        sa.Column("id", BigId, primary_key=True),
        sa.Column("platform", sa.String(16), nullable=False),
        sa.Column("user_key", sa.String(64), nullable=False),
        sa.Column("query", sa.Text, nullable=False, default=""),
        sa.Column("sticker_id", sa.ForeignKey("stickers.id", ondelete="CASCADE"), nullable=False),
        sa.Column("kind", sa.String(8), nullable=False),
        sa.Column("chat_type", sa.String(16), nullable=False, default=""),
        sa.Column("created_at", Stamp, nullable=False, default=_now),
        sa.Index("ix_interactions_user_time", "user_key", "created_at"),
        sa.Index("ix_interactions_sticker", "sticker_id"),
    )


def _utility(meta: sa.MetaData) -> None:
    sa.Table(
        "utility",
        meta,
        sa.Column(
            "sticker_id",
            sa.ForeignKey("stickers.id", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column("clicks", sa.Integer, nullable=False, default=0),
        sa.Column("unique_users", sa.Integer, nullable=False, default=0),
        sa.Column("versatility", sa.Integer, nullable=False, default=0),
        sa.Column("updated_at", Stamp, nullable=False, default=_now),
    )


def _user_profiles(meta: sa.MetaData) -> None:
    sa.Table(
        "user_profiles",
        meta,
        sa.Column("user_key", sa.String(64), primary_key=True),
        sa.Column("history", sa.JSON, nullable=False, default=list),
        sa.Column("centroids", sa.JSON, nullable=False, default=list),
        sa.Column("radii", sa.JSON, nullable=False, default=list),
        sa.Column("history_size", sa.Integer, nullable=False, default=0),
        sa.Column("nsfw_opt_in", sa.Boolean, nullable=False, default=False),
        sa.Column("updated_at", Stamp, nullable=False, default=_now),
    )


def _library_state(meta: sa.MetaData) -> None:
    sa.Table(
        "library_state",
        meta,
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("revision", sa.BigInteger, nullable=False, default=0),
        sa.Column("text_model", sa.String(256), nullable=True),
    )


def _pack_proposals(meta: sa.MetaData) -> None:
    sa.Table(
        "pack_proposals",
        meta,
        sa.Column("id", BigId, primary_key=True),
        sa.Column("source", sa.String(16), nullable=False),
        sa.Column("name", sa.String(128), nullable=False),
        sa.Column("proposed_by", sa.String(64), nullable=False, default=""),
        sa.Column("proposed_at", Stamp, nullable=False, default=_now),
        sa.UniqueConstraint("source", "name"),
    )
