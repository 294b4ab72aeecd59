"""The in-memory search snapshot (documents, BM25, hit metadata) and dense vector sync."""

import hashlib
from collections import Counter, defaultdict
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from sys import intern
from typing import Any, NamedTuple

import numpy as np
import numpy.typing as npt
from sqlalchemy import select, update

from engine.annotate import RunControl
from engine.changes import IN_CHUNK, Change, record
from engine.crowd import load_priors
from engine.documents import StickerDocument, build_document
from engine.embedding import TextEmbedder
from engine.layered import Layered
from engine.lexicon import Lexicon
from engine.media import stored_path
from engine.recall import FieldBM25
from engine.schema import Annotation, LibraryState, Pack, Sticker
from engine.settings import CrowdSettings, SearchSettings
from engine.storage import Database
from engine.styles import Stored, StyleMatrix, stored_rows
from engine.types import StickerHit
from engine.vectors import VectorIndex

EMBED_BATCH = 256
ROW_CHUNK = 20_000  # sticker rows a full build reads, documents and drops at a time
STYLE_CHUNK = 20_000  # style vectors a full build fetches and stores at a time


# What a hit shows, in the order `StickerMeta.of` and the saved snapshot take it.
META_FIELDS = (
    "id", "pack", "emoji", "file", "format", "media_path", "preview_path", "telegram_file_id",
    "discord_sticker_id", "nsfw", "space",
)  # fmt: skip
Media = bytes | tuple[str, str]


@dataclass(frozen=True, slots=True)
class StickerMeta:
    """What a hit shows, kept in memory so the hot path reads no database rows.

    `media` is the content digest (32 bytes) when both files sit where the media store puts
    them, else the two relative paths: the paths are two thirds of the bytes otherwise, 0.2 GB
    at 1M stickers.
    """

    id: int
    pack: str
    emoji: str
    file: str
    format: str
    media: Media
    telegram_file_id: str | None
    discord_sticker_id: str | None
    nsfw: bool
    space: str | None = None  # its pack's scope: None is global

    @classmethod
    def of(
        cls, id: int, pack: str, emoji: str, file: str, format: str, media_path: str,
        preview_path: str, telegram_file_id: str | None, discord_sticker_id: str | None,
        nsfw: bool, space: str | None = None,
    ) -> "StickerMeta":  # fmt: skip
        """A sticker's metadata from its paths (in `META_FIELDS` order)."""
        media = compact_media(format, media_path, preview_path)
        return cls(id, pack, emoji, file, format, media, telegram_file_id, discord_sticker_id,
                   nsfw, space)  # fmt: skip

    @property
    def media_path(self) -> str:
        """The sticker file, relative to the media root."""
        return self._paths()[0]

    @property
    def preview_path(self) -> str:
        """Its still PNG preview, relative to the media root."""
        return self._paths()[1]

    def _paths(self) -> tuple[str, str]:
        if isinstance(self.media, tuple):
            return self.media
        return _store_paths(self.media.hex(), self.format)

    def visible_in(self, space: str | None) -> bool:
        """Whether a caller in `space` may see this sticker."""
        return self.space is None or self.space == space

    def hit(self, score: float, media_root: str) -> StickerHit:
        """This sticker as a ranked hit with absolute media paths."""
        media, preview = self._paths()
        return StickerHit(
            id=self.id,
            score=round(score, 6),
            pack=self.pack,
            emoji=self.emoji,
            file=self.file,
            format=self.format,
            media_path=f"{media_root}/{media}",
            preview_path=f"{media_root}/{preview}",
            telegram_file_id=self.telegram_file_id,
            discord_sticker_id=self.discord_sticker_id,
        )


def compact_media(format: str, media_path: str, preview_path: str) -> Media:
    """The digest the two paths are named by in the media store's layout, else the paths."""
    paths = (media_path, preview_path)
    digest = preview_path[-68:-4]  # previews/ab/<64 hex>.png
    try:
        raw = bytes.fromhex(digest)
    except ValueError:
        return paths
    return raw if len(raw) == 32 and paths == _store_paths(digest, format) else paths


def _store_paths(digest: str, format: str) -> tuple[str, str]:
    return stored_path("media", digest, format), stored_path("previews", digest, "png")


@dataclass(frozen=True)
class Snapshot:
    """Everything recall needs at one library revision."""

    revision: int
    documents: Layered[StickerDocument]
    meta: Layered[StickerMeta]
    bm25: FieldBM25
    priors: dict[int, float]
    styles: StyleMatrix
    scoped: Counter[str] = field(default_factory=Counter)  # stickers per scoped space

    def hidden_from(self, space: str | None) -> int:
        """How many stickers a caller in `space` may not see."""
        return self.scoped.total() - (self.scoped[space] if space is not None else 0)


def annotation_fields(
    db: Database, ids: Collection[int] | None = None
) -> dict[int, list[dict[str, Any]]]:
    """Annotation fields per sticker (of `ids`, or of every sticker)."""
    fields: dict[int, list[dict[str, Any]]] = defaultdict(list)
    query = select(Annotation.sticker_id, Annotation.fields)
    with db.session() as s:
        for chunk in _chunks(ids):
            where = query if chunk is None else query.where(Annotation.sticker_id.in_(chunk))
            for sticker_id, data in s.execute(where.order_by(Annotation.id)):
                fields[int(sticker_id)].append(dict(data or {}))
    return fields


def _chunks(ids: Collection[int] | None) -> list[list[int] | None]:
    if ids is None:
        return [None]
    ordered = sorted(ids)
    return [ordered[i : i + IN_CHUNK] for i in range(0, len(ordered), IN_CHUNK)]


class StickerRow(NamedTuple):
    """The columns of a sticker and of its pack that its document and hit metadata read."""

    id: int
    emoji: str
    original_name: str
    format: str
    media_path: str
    preview_path: str
    telegram_file_id: str | None
    discord_sticker_id: str | None
    nsfw_score: float | None
    pack_name: str
    pack_title: str
    pack_nsfw: bool
    pack_space: str | None


# Plain rows, not ORM objects: a million Sticker and Pack objects took 2.8 GB and 30 s to load.
_ROWS = select(
    Sticker.id, Sticker.emoji, Sticker.original_name, Sticker.format, Sticker.media_path,
    Sticker.preview_path, Sticker.telegram_file_id, Sticker.discord_sticker_id,
    Sticker.nsfw_score, Pack.name, Pack.title, Pack.nsfw, Pack.space,
).join(Pack, Sticker.pack_id == Pack.id)  # fmt: skip


def sticker_rows(db: Database, ids: Collection[int] | None = None) -> list[StickerRow]:
    """Stickers (of `ids`, or all of them) with their packs' columns, by id."""
    rows: list[StickerRow] = []
    query = _ROWS.order_by(Sticker.id)
    with db.session() as s:
        for chunk in _chunks(ids):
            where = query if chunk is None else query.where(Sticker.id.in_(chunk))
            rows.extend(StickerRow._make(row) for row in s.execute(where))
    return rows


def sticker_row_chunks(db: Database, size: int = ROW_CHUNK) -> Iterator[list[StickerRow]]:
    """Every sticker row by id, `size` at a time, each chunk read on its own.

    A change between two chunks is also recorded as a change since the revision read before
    the first, so the next update applies it again.
    """
    last: int | None = None
    while True:
        query = _ROWS.order_by(Sticker.id).limit(size)
        if last is not None:
            query = query.where(Sticker.id > last)
        with db.session() as s:
            rows = [StickerRow._make(row) for row in s.execute(query)]
        if not rows:
            return
        yield rows
        last = rows[-1].id


def sticker_document(
    row: StickerRow, annotations: list[dict[str, Any]], lexicon: Lexicon, cfg: SearchSettings
) -> StickerDocument:
    """The text document of one sticker row."""
    return build_document(
        row.id, row.emoji, row.pack_title, annotations, lexicon, cfg.dense_locale,
        file_name=row.original_name, pack_name=row.pack_name,
    )  # fmt: skip


def sticker_meta(row: StickerRow, cfg: SearchSettings) -> StickerMeta:
    """What a hit of one sticker row shows."""
    nsfw = row.pack_nsfw or (row.nsfw_score or 0.0) >= cfg.nsfw_threshold
    # Pack, emoji and format repeat across stickers: one string each (sys.intern).
    return StickerMeta.of(
        row.id, intern(row.pack_name), intern(row.emoji), row.original_name, intern(row.format),
        row.media_path, row.preview_path, row.telegram_file_id, row.discord_sticker_id, nsfw,
        None if row.pack_space is None else intern(row.pack_space),
    )  # fmt: skip


def load_snapshot(
    db: Database,
    lexicon: Lexicon,
    cfg: SearchSettings,
    crowd: CrowdSettings,
    style_index: VectorIndex | None = None,
) -> Snapshot:
    """Read the whole library and build documents, metadata and the BM25 indexes."""
    revision = db.revision()  # read first: a later write is reread next time, never missed
    docs: dict[int, StickerDocument] = {}
    meta: dict[int, StickerMeta] = {}
    # Chunk by chunk: the rows of a whole library at once peaked at gigabytes.
    for rows in sticker_row_chunks(db, ROW_CHUNK):
        annotations = annotation_fields(db, [row.id for row in rows])
        for row in rows:
            docs[row.id] = sticker_document(row, annotations[row.id], lexicon, cfg)
            meta[row.id] = sticker_meta(row, cfg)
    bm25 = FieldBM25(list(docs.values()), cfg.field_weights, cfg.phrase_weight, cfg.typing)
    styles = style_matrix(style_index, meta)
    priors = load_priors(db, crowd)
    scoped = scoped_counts(meta.values())
    return Snapshot(revision, Layered(docs), Layered(meta), bm25, priors, styles, scoped)


class PackOf(Mapping[int, str]):
    """Sticker id -> pack, read through the snapshot's metadata (no copy per change)."""

    def __init__(self, meta: Mapping[int, StickerMeta]) -> None:
        self._meta = meta

    def __getitem__(self, sticker_id: int) -> str:
        return self._meta[sticker_id].pack

    def __iter__(self) -> Iterator[int]:
        return iter(self._meta)

    def __len__(self) -> int:
        return len(self._meta)


def style_matrix(index: VectorIndex | None, meta: Mapping[int, StickerMeta]) -> StyleMatrix:
    """The style embeddings of the stickers that have one, with every sticker's emoji and pack."""
    found, blocks = _style_blocks(index, list(meta)) if index is not None else ([], [])
    packs = PackOf(meta)
    if not found:
        return StyleMatrix([], np.zeros((0, 1), dtype=np.float32), packs=packs)
    emoji = [meta[i].emoji for i in found]
    return StyleMatrix(found, np.concatenate(blocks), emoji=emoji, packs=packs)


def _style_blocks(index: VectorIndex, ids: list[int]) -> tuple[list[int], list[Stored]]:
    """The ids of `ids` that have a style vector, and their stored rows in chunks."""
    found: list[int] = []
    blocks: list[Stored] = []
    # A chunk at a time, kept as the matrix keeps them: a million float32 arrays and their
    # stack at once peaked 1.4 GB higher.
    for start in range(0, len(ids), STYLE_CHUNK):
        if vectors := index.get(ids[start : start + STYLE_CHUNK]):
            found.extend(vectors)
            blocks.append(stored_rows(np.stack(list(vectors.values()))))
    return found, blocks


def scoped_counts(meta: Iterable[StickerMeta]) -> Counter[str]:
    """Stickers per scoped space."""
    return Counter(m.space for m in meta if m.space is not None)


FEW_DOCUMENTS = 10_000  # up to this many, stale_documents reads only their rows
HASH_PART = 20_000  # rows per part of a whole-table read of the index hashes


def index_hash(doc: StickerDocument, identity: str) -> str:
    """What a document's vector depends on: its dense text and the embedder that read it."""
    return hashlib.sha256(f"{identity}\n{doc.dense_text()}".encode()).hexdigest()[:32]


def stale_documents(
    db: Database, docs: Sequence[StickerDocument], identity: str
) -> list[StickerDocument]:
    """Documents whose dense text or embedder changed since they were last embedded."""
    hashes = select(Sticker.id, Sticker.text_index_hash)
    indexed: dict[int, str] = {}
    with db.session() as s:
        if len(docs) > FEW_DOCUMENTS:
            # In parts: not a million row objects alive at once beside the hashes kept.
            for part in s.execute(hashes).partitions(HASH_PART):
                indexed.update(part)
        else:  # an import's or a batch's few: not the whole table's hashes
            ids = [d.sticker_id for d in docs]
            for start in range(0, len(ids), IN_CHUNK):
                chunk = ids[start : start + IN_CHUNK]
                indexed.update(s.execute(hashes.where(Sticker.id.in_(chunk))).all())
    return [d for d in docs if indexed.get(d.sticker_id) != index_hash(d, identity)]


def indexed_model(db: Database) -> str | None:
    """Identity of the embedder whose vectors the text index holds (None: none recorded)."""
    with db.session() as s:
        return s.scalar(select(LibraryState.text_model).where(LibraryState.id == 1))


def sync_point(db: Database) -> tuple[str | None, int | None]:
    """The embedder the text index holds, and the revision at which all its vectors were current."""
    with db.session() as s:
        row = s.execute(
            select(LibraryState.text_model, LibraryState.text_synced_revision).where(
                LibraryState.id == 1
            )
        ).one_or_none()
    return (row[0], row[1]) if row else (None, None)


def record_sync_point(db: Database, identity: str, revision: int) -> None:
    """Remember that every document of `revision` has a vector from `identity`."""
    with db.session() as s:
        s.execute(
            update(LibraryState)
            .where(LibraryState.id == 1, LibraryState.text_model == identity)
            .values(text_synced_revision=revision)
        )


def adopt_embedder(db: Database, identity: str, index: VectorIndex) -> bool:
    """Empty the index when its vectors came from another embedder; True when it did.

    Vectors of two models are not comparable (and may differ in dimension), so old ones must not
    answer queries while the library is re-embedded. The identity is recorded after the index is
    emptied (a crash in between only empties it again), with a new revision, so that every
    process rereads which model the index holds.
    """
    if indexed_model(db) == identity:
        return False
    index.clear()
    with db.session() as s:
        state = update(LibraryState).where(LibraryState.id == 1)
        s.execute(state.values(text_model=identity, text_synced_revision=None))
        record(s, Change())  # nothing in a snapshot changes but whether dense recall is ready
    return True


def sync_text_vectors(
    db: Database,
    docs: Sequence[StickerDocument],
    embedder: TextEmbedder,
    index: VectorIndex,
    progress: Callable[[int, int], None] | None = None,
    control: RunControl | None = None,
) -> int:
    """Embed and upsert stale documents in committed batches; return how many were embedded.

    Resumable: each batch records its documents' hashes once their vectors are stored, so a
    killed run (say, halfway through re-embedding the library for a new model) goes on where it
    stopped; a stop request ends the run after the batch in progress. Stale documents are
    sorted by text so that identical texts (stickers known only by the same emoji) share a
    batch and are embedded once.
    """
    control = control or RunControl()
    identity = embedder.identity
    adopt_embedder(db, identity, index)
    stale = sorted(stale_documents(db, docs, identity), key=lambda d: d.dense_text())
    done = 0
    for start in range(0, len(stale), EMBED_BATCH):
        if control.stop.is_set():
            break
        batch = stale[start : start + EMBED_BATCH]
        vectors = _document_vectors(batch, embedder)
        with control.gate:
            _store_vectors(batch, vectors, index)
            _record_hashes(db, batch, identity)
        done += len(batch)
        if progress:
            progress(len(batch), len(stale))
    return done


def _record_hashes(db: Database, batch: Sequence[StickerDocument], identity: str) -> None:
    # Recorded after the upsert: a crash in between only means re-embedding, never a gap.
    with db.session() as s:
        for d in batch:
            row = update(Sticker).where(Sticker.id == d.sticker_id)
            s.execute(row.values(text_index_hash=index_hash(d, identity)))


def _document_vectors(
    batch: Sequence[StickerDocument], embedder: TextEmbedder
) -> npt.NDArray[np.float32] | None:
    """One vector per document with text, each distinct text embedded once."""
    with_text = [d for d in batch if d.dense_text()]
    if not with_text:
        return None
    unique = list(dict.fromkeys(d.dense_text() for d in with_text))
    vectors = embedder.embed_documents(unique)
    row = {text: i for i, text in enumerate(unique)}
    return np.asarray(vectors[[row[d.dense_text()] for d in with_text]], dtype=np.float32)


def _store_vectors(
    batch: Sequence[StickerDocument], vectors: npt.NDArray[np.float32] | None, index: VectorIndex
) -> None:
    if vectors is not None:
        index.upsert([d.sticker_id for d in batch if d.dense_text()], vectors)
    index.delete([d.sticker_id for d in batch if not d.dense_text()])
