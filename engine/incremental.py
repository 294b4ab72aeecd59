"""A snapshot brought forward by what changed since its revision, at the cost of the change.

Only stickers whose markers are newer than the snapshot are reread (engine/changes.py): their
documents go into a BM25 delta segment, their metadata replace the old, style rows are fetched
for changed ids only and priors are reloaded only after a utility recompute.
"""

from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, replace

from engine.changes import Pending, pending
from engine.crowd import load_priors
from engine.documents import StickerDocument
from engine.index import (
    PackOf,
    Snapshot,
    StickerMeta,
    annotation_fields,
    load_snapshot,
    sticker_document,
    sticker_meta,
    sticker_rows,
)
from engine.lexicon import Lexicon
from engine.recall import FieldBM25
from engine.settings import CrowdSettings, SearchSettings
from engine.storage import Database
from engine.styles import StyleMatrix
from engine.vectors import VectorIndex

# Merge policy: the delta joins the base once it outgrows a tenth of it (and MERGE_MIN_DOCS);
# deltas are folded together before queries must visit too many of them.
MERGE_RATIO = 0.1
MERGE_MIN_DOCS = 1000
MAX_LAYERS = 8


def maintained(bm25: FieldBM25) -> FieldBM25:
    """`bm25` merged when its delta grew too large or too scattered; else `bm25` itself."""
    corpus = bm25.corpus
    if corpus.delta_size > max(MERGE_MIN_DOCS, MERGE_RATIO * corpus.layers[0].live):
        return bm25.merged()
    if len(corpus.layers) > MAX_LAYERS:
        return bm25.merged(deltas_only=True)
    return bm25


@dataclass
class BuildCosts:
    """What builds took, to guess whether the next one is worth waiting for."""

    full_per_sticker_s: float = 0.0
    per_change_s: float = 0.0

    def full(self, seconds: float, stickers: int) -> None:
        """A full build of `stickers` took `seconds`."""
        self.full_per_sticker_s = seconds / max(stickers, 1)
        self.per_change_s = self.per_change_s or self.full_per_sticker_s

    def update(self, seconds: float, changes: Pending, stickers: int) -> None:
        """An update for `changes` took `seconds` (it was a full build if they said so)."""
        if changes.full:
            self.full(seconds, stickers)
        else:
            self.per_change_s = seconds / max(changes.size, 1)

    def estimate(self, changes: Pending, stickers: int) -> float:
        """Seconds that applying `changes` to a library of `stickers` should take."""
        full = self.full_per_sticker_s * (stickers + len(changes.text))
        # An update can cost no more than a rebuild would (its fixed part inflates per_change_s).
        return full if changes.full else min(full, self.per_change_s * max(changes.size, 1))


def pending_since(db: Database, snapshot: Snapshot) -> Pending:
    """What changed after `snapshot` was built."""
    with db.session() as s:
        return pending(s, snapshot.revision)


def update_snapshot(
    previous: Snapshot,
    db: Database,
    lexicon: Lexicon,
    cfg: SearchSettings,
    crowd: CrowdSettings,
    style_index: VectorIndex | None = None,
) -> tuple[Snapshot, Pending]:
    """`previous` with every change since its revision applied (a full build if one named none),
    and what those changes were."""
    revision = db.revision()  # read first: a later write is reread next time, never missed
    changes = pending_since(db, previous)
    if changes.full:
        return load_snapshot(db, lexicon, cfg, crowd, style_index), changes
    rows = sticker_rows(db, changes.stickers)
    annotations = annotation_fields(db, changes.text)
    scoped = Counter(previous.scoped)
    docs: dict[int, StickerDocument] = {}
    metas: dict[int, StickerMeta] = {}
    for row in rows:
        if row.id in changes.text:
            docs[row.id] = sticker_document(row, annotations[row.id], lexicon, cfg)
        _move_scope(scoped, previous.meta.get(row.id), row.pack_space)
        metas[row.id] = sticker_meta(row, cfg)
    changed_docs = list(docs.values())
    # A marker may name a sticker removed since (its row is gone): that is a removal too.
    removed = changes.removed | (changes.stickers - {row.id for row in rows})
    for sticker_id in removed:  # removal wins, over a row read in this update too
        _move_scope(scoped, metas.pop(sticker_id, None) or previous.meta.get(sticker_id), None)
    meta = previous.meta.updated(metas, removed)
    bm25 = previous.bm25.changed(changed_docs, removed) if changed_docs or removed else None
    styles = _styles(previous, changes, removed, style_index, meta)
    priors = load_priors(db, crowd) if changes.utility else previous.priors
    if removed & priors.keys():  # their utility rows went with them
        priors = {i: p for i, p in priors.items() if i not in removed}
    snapshot = replace(
        previous,
        revision=revision,
        documents=previous.documents.updated(docs, removed),
        meta=meta,
        bm25=bm25 or previous.bm25,
        priors=priors,
        styles=styles,
        scoped=+scoped,
    )
    return snapshot, changes


def _move_scope(scoped: Counter[str], old: StickerMeta | None, space: str | None) -> None:
    if old is not None and old.space is not None:
        scoped[old.space] -= 1
    if space is not None:
        scoped[space] += 1


def _styles(
    previous: Snapshot,
    changes: Pending,
    removed: set[int],
    index: VectorIndex | None,
    meta: Mapping[int, StickerMeta],
) -> StyleMatrix:
    wanted = sorted(changes.style - removed)
    vectors = index.get(wanted) if index is not None and wanted else {}
    packs = PackOf(meta)  # pack affinity reads every sticker's pack, vectors or not
    styled = [i for i in changes.stickers if i in previous.styles]
    # The content space groups rows by emoji and pack: a styled sticker that moved is relabelled.
    labels = {
        i: (meta[i].emoji, meta[i].pack)
        for i in (*vectors, *_relabelled(previous.meta, meta, styled))
        if i in meta
    }
    if not (vectors or removed or labels):
        # New stickers without a style vector yet, or handle changes: only the pack lookup sees
        # the new metadata.
        return previous.styles.with_packs(packs)
    return previous.styles.changed(vectors, removed, labels, packs)


def _relabelled(
    before: Mapping[int, StickerMeta], after: Mapping[int, StickerMeta], changed: list[int]
) -> list[int]:
    """The changed stickers that have another emoji or pack than before."""
    moved = []
    for i in changed:
        old, new = before.get(i), after.get(i)
        if new is not None and (old is None or (old.emoji, old.pack) != (new.emoji, new.pack)):
            moved.append(i)
    return moved
