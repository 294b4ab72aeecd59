"""The in-memory search snapshot (documents, BM25, hit metadata) and dense vector sync."""

from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from sqlalchemy import select, update

from engine.crowd import load_priors
from engine.documents import StickerDocument, build_document
from engine.embedding import TextEmbedder
from engine.lexicon import Lexicon
from engine.personalize import StyleMatrix
from engine.recall import FieldBM25
from engine.schema import Annotation, Pack, Sticker
from engine.settings import CrowdSettings, SearchSettings
from engine.storage import Database
from engine.types import StickerHit
from engine.vectors import VectorIndex

EMBED_BATCH = 256


@dataclass(frozen=True)
class StickerMeta:
    """What a hit shows, kept in memory so the hot path reads no database rows."""

    id: int
    pack: str
    emoji: str
    file: str
    format: str
    media_path: str
    preview_path: str
    telegram_file_id: str | None
    discord_sticker_id: str | None
    nsfw: bool

    def hit(self, score: float, media_root: str) -> StickerHit:
        """This sticker as a ranked hit with absolute media paths."""
        return StickerHit(
            id=self.id,
            score=round(score, 6),
            pack=self.pack,
            emoji=self.emoji,
            file=self.file,
            format=self.format,
            media_path=f"{media_root}/{self.media_path}",
            preview_path=f"{media_root}/{self.preview_path}",
            telegram_file_id=self.telegram_file_id,
            discord_sticker_id=self.discord_sticker_id,
        )


@dataclass(frozen=True)
class Snapshot:
    """Everything recall needs at one library revision."""

    revision: int
    documents: list[StickerDocument]
    meta: dict[int, StickerMeta]
    bm25: FieldBM25
    priors: dict[int, float]
    styles: StyleMatrix


def _annotation_fields(db: Database) -> dict[int, list[dict[str, Any]]]:
    fields: dict[int, list[dict[str, Any]]] = defaultdict(list)
    with db.session() as s:
        for sticker_id, data in s.execute(select(Annotation.sticker_id, Annotation.fields)):
            fields[int(sticker_id)].append(dict(data or {}))
    return fields


def load_snapshot(
    db: Database,
    lexicon: Lexicon,
    cfg: SearchSettings,
    crowd: CrowdSettings,
    style_index: VectorIndex | None = None,
) -> Snapshot:
    """Read the library and build documents, metadata and the BM25 indexes."""
    revision = db.revision()
    annotations = _annotation_fields(db)
    docs: list[StickerDocument] = []
    meta: dict[int, StickerMeta] = {}
    with db.session() as s:
        rows = s.execute(select(Sticker, Pack).join(Pack).order_by(Sticker.id))
        for st, pack in rows:
            fields = annotations[st.id]
            docs.append(
                build_document(st.id, st.emoji, pack.title, fields, lexicon, cfg.dense_locale)
            )
            nsfw = pack.nsfw or (st.nsfw_score or 0.0) >= cfg.nsfw_threshold
            meta[st.id] = StickerMeta(
                st.id, pack.name, st.emoji, st.original_name, st.format, st.media_path,
                st.preview_path, st.telegram_file_id, st.discord_sticker_id, nsfw,
            )  # fmt: skip
    bm25 = FieldBM25(docs, cfg.field_weights, cfg.phrase_weight)
    return Snapshot(revision, docs, meta, bm25, load_priors(db, crowd), _styles(style_index, meta))


def _styles(index: VectorIndex | None, meta: dict[int, StickerMeta]) -> StyleMatrix:
    ids = list(meta)
    vectors = index.get(ids) if index is not None and ids else {}
    found = [i for i in ids if i in vectors]
    packs = {i: m.pack for i, m in meta.items()}
    if not found:
        return StyleMatrix([], np.zeros((0, 1), dtype=np.float32), packs=packs)
    emoji = [meta[i].emoji for i in found]
    return StyleMatrix(found, np.stack([vectors[i] for i in found]), emoji=emoji, packs=packs)


def stale_documents(db: Database, docs: Sequence[StickerDocument]) -> list[StickerDocument]:
    """Documents whose dense text changed since they were last embedded."""
    with db.session() as s:
        indexed = dict(s.execute(select(Sticker.id, Sticker.text_index_hash)).all())
    return [d for d in docs if indexed.get(d.sticker_id) != d.dense_hash()]


def sync_text_vectors(
    db: Database,
    docs: Sequence[StickerDocument],
    embedder: TextEmbedder,
    index: VectorIndex,
    progress: Callable[[int, int], None] | None = None,
) -> int:
    """Embed and upsert stale documents in batches; return how many were (re)embedded."""
    stale = stale_documents(db, docs)
    for start in range(0, len(stale), EMBED_BATCH):
        batch = stale[start : start + EMBED_BATCH]
        with_text = [d for d in batch if d.dense_text()]
        if with_text:
            index.upsert(
                [d.sticker_id for d in with_text],
                embedder.embed([d.dense_text() for d in with_text]),
            )
        index.delete([d.sticker_id for d in batch if not d.dense_text()])
        # Recorded after the upsert: a crash in between only means re-embedding, never a gap.
        with db.session() as s:
            for d in batch:
                s.execute(
                    update(Sticker)
                    .where(Sticker.id == d.sticker_id)
                    .values(text_index_hash=d.dense_hash())
                )
        if progress:
            progress(len(batch), len(stale))
    return len(stale)
