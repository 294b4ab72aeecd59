"""Writing a synthetic corpus into a library in bulk, bypassing image decoding.

The engine's import path decodes each image and renders a preview (tens of milliseconds per
sticker): at 100k stickers that alone would take an hour and measures nothing about search. So
rows go straight into the database tables the importer writes, vectors straight into Chroma, and
the crowd tables and profiles are computed by the engine's own functions. Dense vectors: the
default text model embeds each emoji's English keyword text (the dense text of a sticker known
only by its emoji) once; each sticker gets that vector with a small random jitter, and its index
hash is the engine's own, so the index job sees nothing stale.
"""

import hashlib
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import numpy as np
import numpy.typing as npt
from sqlalchemy import Table, bindparam, insert, select, update

from engine.benchmark.corpus import STYLES, Corpus
from engine.core import Core
from engine.crowd import aggregate, recompute_history_queries, recompute_utility
from engine.documents import build_document
from engine.embedding import TextEmbedder
from engine.index import adopt_embedder, annotation_fields, index_hash, record_sync_point
from engine.lexicon import Lexicon
from engine.personalize import build_profile, load_history, save_profile
from engine.schema import Annotation, Interaction, Pack, Sticker
from engine.storage import Database
from engine.styles import StyleMatrix

ROWS = 5000  # rows per executemany
VECTORS = 4000  # vectors per Chroma upsert (under its max batch size)
STYLE_DIM = 256
JITTER = 0.05
Vector = npt.NDArray[np.float32]
HOW = (
    "rows, annotations and interactions inserted directly into the database and vectors into "
    "Chroma (the import path's image decoding would dominate); crowd utility, learned queries "
    "and profiles computed by the engine; dense vectors: the default text model's embedding of "
    "each emoji's keyword text, jittered per sticker"
)


Row = dict[str, Any]


def _chunks(rows: Sequence[Row], n: int = ROWS) -> list[Sequence[Row]]:
    return [rows[i : i + n] for i in range(0, len(rows), n)]


def insert_rows(db: Database, corpus: Corpus) -> None:
    """Packs, stickers, OCR annotations and the users' picks, in committed chunks."""
    now = datetime.now(UTC)
    packs = [
        {"id": p.id, "source": "local", "name": p.name, "title": p.title, "added_by": "bench",
         "added_at": now, "nsfw": False, "space": None}
        for p in corpus.packs
    ]  # fmt: skip
    stickers = []
    for st in corpus.stickers:
        digest = hashlib.sha256(f"bench-{st.id}".encode()).hexdigest()
        stickers.append(
            {"id": st.id, "pack_id": st.pack, "content_hash": digest, "format": "webp",
             "emoji": st.emoji, "original_name": st.file_name, "size_bytes": 20_000,
             "width": 512, "height": 512, "frame_count": 1,
             "media_path": f"media/{digest[:2]}/{digest}.webp",
             "preview_path": f"previews/{digest[:2]}/{digest}.png", "telegram_file_id": None,
             "telegram_file_unique_id": None, "discord_sticker_id": None,
             "annotation_version": 0, "nsfw_score": 0.0, "text_index_hash": "", "added_at": now}
        )  # fmt: skip
    ocr = [
        {"sticker_id": st.id, "source": "ocr", "model": "bench", "version": "synthetic",
         "fields": {"ocr": st.ocr}, "updated_at": now}
        for st in corpus.stickers if st.ocr
    ]  # fmt: skip
    picks = [
        {"platform": "telegram", "user_key": p.user, "query": p.query, "sticker_id": p.sticker,
         "kind": "chosen", "chat_type": "private", "created_at": p.at}
        for p in corpus.picks
    ]  # fmt: skip
    for table, rows in (
        (Pack, packs),
        (Sticker, stickers),
        (Annotation, ocr),
        (Interaction, picks),
    ):
        for chunk in _chunks(rows):
            with db.session() as s:
                s.execute(insert(table), list(chunk))
    with db.session() as s:
        db.bump_revision(s)


def style_vectors(corpus: Corpus, seed: int = 0) -> npt.NDArray[np.float32]:
    """One style vector per sticker: its pack's style centre plus noise."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(STYLES, STYLE_DIM)).astype(np.float32)
    styles = np.fromiter((st.style for st in corpus.stickers), dtype=np.int64)
    noise = rng.normal(scale=0.8, size=(len(styles), STYLE_DIM)).astype(np.float32)
    return centres[styles] + noise


def emoji_vectors(
    corpus: Corpus, embedder: TextEmbedder, lexicon: Lexicon, store: dict[str, Vector]
) -> dict[str, Vector]:
    """The embedding of each emoji's English keyword text; `store` keeps them across runs."""
    emoji = sorted(corpus.by_emoji)
    texts = [" ; ".join(lexicon.keywords(e, ("en",))) for e in emoji]
    missing = [t for t in dict.fromkeys(texts) if t not in store]
    if missing:
        for text, vector in zip(missing, embedder.embed_documents(missing), strict=True):
            store[text] = np.asarray(vector, dtype=np.float32)
    return {e: store[t] for e, t in zip(emoji, texts, strict=True)}


def store_vectors(core: Core, corpus: Corpus, by_emoji: dict[str, Vector]) -> None:
    """Style vectors and jittered text vectors (if any) of every sticker, straight into Chroma."""
    rng = np.random.default_rng(1)
    ids = [st.id for st in corpus.stickers]
    if by_emoji:
        adopt_embedder(core.db, core.embedder.identity, core.text_index)
    styles = style_vectors(corpus)
    for start in range(0, len(ids), VECTORS):
        chunk = slice(start, start + VECTORS)
        if core.style_index is not None:
            core.style_index.upsert(ids[chunk], styles[chunk])
        if by_emoji:
            base = np.stack([by_emoji[st.emoji] for st in corpus.stickers[chunk]])
            noise = rng.normal(size=base.shape).astype(np.float32)
            noise *= JITTER / np.linalg.norm(noise, axis=1, keepdims=True)
            text = base + noise
            core.text_index.upsert(ids[chunk], text / np.linalg.norm(text, axis=1, keepdims=True))


def crowd_and_profiles(core: Core, corpus: Corpus) -> int:
    """Utility, learned queries and every user's profile, by the engine's own functions."""
    db, cfg = core.db, core.settings
    crowd = aggregate(db)
    recompute_utility(db, crowd, cfg.crowd)
    recompute_history_queries(db, crowd, cfg.crowd)
    matrix = StyleMatrix([st.id for st in corpus.stickers], style_vectors(corpus))
    users = sorted({p.user for p in corpus.picks})
    for user in users:
        history = load_history(db, user)
        save_profile(db, user, build_profile(history, matrix, cfg.personalization), len(history))
    return len(users)


def record_index_hashes(core: Core) -> None:
    """Each sticker's index hash as the engine computes it, so that no document looks stale."""
    db, cfg = core.db, core.settings.search
    annotations = annotation_fields(db)
    identity = core.embedder.identity
    rows: list[Row] = []
    with db.session() as s:
        query = select(Sticker.id, Sticker.emoji, Sticker.original_name, Pack.title, Pack.name)
        for sid, emoji, file_name, title, pack_name in s.execute(query.join(Pack)):
            doc = build_document(
                sid, emoji, title, annotations[sid], core.lexicon, cfg.dense_locale,
                file_name=file_name, pack_name=pack_name,
            )  # fmt: skip
            rows.append({"sid": sid, "h": index_hash(doc, identity)})
    table = Sticker.__table__
    assert isinstance(table, Table)
    statement = (
        update(table).where(table.c.id == bindparam("sid")).values(text_index_hash=bindparam("h"))
    )
    for chunk in _chunks(rows):
        with db.session() as s:
            s.connection().execute(statement, list(chunk))
    # As a complete sync records it: the next refresh checks only what changes after the build,
    # where it would otherwise hash every document once (seconds at 1M, beside the searches).
    record_sync_point(db, identity, db.revision())
