"""The state one open library shares between the facade's parts: storage, indexes, snapshot."""

import contextlib
import heapq
import logging
import threading
import time
from collections.abc import Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, replace

from engine.annotate import AnnotationPipeline, RunControl, Stage
from engine.cache import TTLCache
from engine.changes import pending
from engine.crowd import load_priors
from engine.documents import StickerDocument
from engine.embedcache import QueryEmbeddingCache, Vector
from engine.embedding import TextEmbedder
from engine.incremental import BuildCosts, maintained, pending_since, update_snapshot
from engine.index import (
    Snapshot,
    indexed_model,
    load_snapshot,
    record_sync_point,
    sync_point,
    sync_text_vectors,
)
from engine.lexicon import Lexicon
from engine.library import Library
from engine.lock import WriterLock
from engine.media import MediaStore
from engine.pages import Ranking
from engine.persist import (
    FORMAT,
    load_saved,
    savable,
    save_snapshot,
    saved_format,
    snapshot_path,
)
from engine.personalize import ProfileReader
from engine.segments import Segment
from engine.settings import EngineSettings
from engine.snapshots import SnapshotKeeper
from engine.stages import StyleStage, make_stages
from engine.storage import Database
from engine.suggest import Vocabulary, sticker_counts
from engine.traffic import SearchTraffic
from engine.types import Progress
from engine.understanding.style import StyleEmbedder
from engine.vectors import VectorIndex

log = logging.getLogger(__name__)
CLOSE_WAIT_S = 30.0  # a save of a large snapshot takes seconds; a torn one is only redone
MAX_VOCABULARIES = 32  # spaces with packs of their own whose vocabularies stay built
EMBEDDING_THREADS = 8
POPULAR = 500  # popular stickers kept ranked: what one or two typed letters show


@dataclass(frozen=True)
class BuiltVocabulary:
    """A space's completion vocabulary, the revision it counted and what building it took."""

    revision: int
    vocabulary: Vocabulary
    seconds: float


class Core:
    """Storage, vector indexes, the text embedder, the current snapshot and the page cache."""

    def __init__(
        self,
        settings: EngineSettings,
        db: Database,
        text_index: VectorIndex,
        embedder: TextEmbedder,
        lock: WriterLock | None = None,
        style_index: VectorIndex | None = None,
        traffic: SearchTraffic | None = None,
    ) -> None:
        self.settings = settings
        self.traffic = traffic or SearchTraffic()  # searches in flight, for GIL-bound writers
        self.db = db
        self.control = RunControl(batch_seconds=settings.understanding.batch_seconds)
        self.media = MediaStore(settings.data_dir)
        self.library = Library(db, self.media, settings.ingest)
        self.text_index = text_index
        self.style_index = style_index
        self.embedder = embedder
        self.lexicon = Lexicon(settings.search.locales)
        self.lock = lock
        cfg = settings.search
        self.pages: TTLCache[Ranking] = TTLCache(cfg.cache_size, cfg.cache_ttl_s)
        self.query_vectors = QueryEmbeddingCache(embedder, cfg.embedding_cache_size)
        self.profiles = ProfileReader(db)
        # Dense neighbours of a settled query text at a revision: shared by users and keystrokes.
        self._neighbours: TTLCache[list[tuple[int, float]]] = TTLCache(
            cfg.embedding_cache_size, cfg.cache_ttl_s
        )
        # As many as searches that may run at once (the bots' worker threads, bench threads).
        self._embedding = ThreadPoolExecutor(EMBEDDING_THREADS, "query-embedding")
        self.snapshots = SnapshotKeeper(
            self._build_snapshot, db.revision, cfg.sync_rebuild_s, self._estimate, self._maintain
        )
        self.costs = BuildCosts()
        self._saved: Segment | None = None  # the BM25 base segment last written to disk
        self.dense_ready = False  # whether the index holds this model's vectors
        self._stages: dict[tuple[str, ...] | None, list[Stage]] = {}
        # One vocabulary per space that asked: a scoped pack's words must not complete queries
        # in other spaces.
        self._vocabularies: dict[str | None, BuiltVocabulary] = {}
        self._vocabulary_builds: set[str | None] = set()  # spaces rebuilding in the background
        self._vocabulary_lock = threading.Lock()  # its own: a build never holds up searches
        self._popular: tuple[int, list[int]] = (-1, [])
        self._synced: tuple[str, int] | None = None  # (model, revision) of the last whole sync

    def snapshot(self) -> Snapshot:
        """The snapshot searches use: the newest one, never waiting for a long rebuild."""
        return self.snapshots.latest()

    def fresh_snapshot(self) -> Snapshot:
        """The snapshot of the current revision, rebuilt now if needed (for writers)."""
        return self.snapshots.fresh()

    def _build_snapshot(self, previous: Snapshot | None) -> Snapshot:
        cfg = self.settings
        args = (self.db, self.lexicon, cfg.search, cfg.crowd, self.style_index)
        started = time.perf_counter()
        previous = previous or self._load_saved()
        if previous is None:
            snapshot = load_snapshot(*args)
            self.costs.full(time.perf_counter() - started, len(snapshot.meta))
        else:
            snapshot, changes = update_snapshot(previous, *args)
            self.costs.update(time.perf_counter() - started, changes, len(snapshot.meta))
        # Until the index job adopts a newly configured model, the index holds another model's
        # vectors: comparing them with this model's queries means nothing.
        self.dense_ready = indexed_model(self.db) == self.embedder.identity
        return snapshot

    def popular(self, snapshot: Snapshot) -> list[int]:
        """The stickers with the highest crowd utility, best first (computed once a revision)."""
        revision, ranked = self._popular
        if revision != snapshot.revision:
            priors = snapshot.priors
            ranked = heapq.nlargest(
                POPULAR, (i for i in priors if priors[i] > 0), key=priors.__getitem__
            )
            self._popular = (snapshot.revision, ranked)
        return ranked

    def _estimate(self, current: Snapshot) -> float:
        return self.costs.estimate(pending_since(self.db, current), len(current.meta))

    def _load_saved(self) -> Snapshot | None:
        saved = load_saved(snapshot_path(self.settings.data_dir), self.settings.search)
        if saved is None:
            return None
        if saved.revision > self.db.revision():
            log.warning("saved snapshot is newer than the library (another one?); rebuilding")
            return None
        # A file in an older format is written anew at the next save, as if never saved.
        current = saved_format(snapshot_path(self.settings.data_dir)) == FORMAT
        self._saved = saved.bm25.corpus.layers[0].segment if current else None
        # Priors are not saved: they are few, and a utility run before the save is not pending.
        return replace(saved, priors=load_priors(self.db, self.settings.crowd))

    def _maintain(self, current: Snapshot) -> Snapshot | None:
        bm25 = maintained(current.bm25)
        kept = replace(current, bm25=bm25) if bm25 is not current.bm25 else None
        self._save(kept or current)
        return kept

    def _save(self, snapshot: Snapshot) -> None:
        segment = snapshot.bm25.corpus.layers[0].segment
        cfg = self.settings.search
        if segment is self._saved or not savable(snapshot):
            return
        if len(snapshot.meta) < cfg.save_index_min_stickers:
            return
        started = time.perf_counter()
        save_snapshot(snapshot, snapshot_path(self.settings.data_dir), cfg)
        self._saved = segment
        log.info("snapshot r%d saved in %.2fs", snapshot.revision, time.perf_counter() - started)

    def vocabulary(self, space: str | None = None) -> Vocabulary:
        """The completion vocabulary of what `space` sees, built on first use.

        A vocabulary counts every document, so after a change one that took longer than
        `search.sync_rebuild_s` to build keeps serving while a background thread rebuilds it
        (autocomplete must not wait seconds behind an import); a quick one is rebuilt at once.
        """
        snapshot = self.snapshot()
        if not snapshot.scoped.get(space or ""):
            space = None  # a space without packs of its own sees just the global ones
        with self._vocabulary_lock:
            built = self._vocabularies.get(space)
            if built is not None and built.revision == snapshot.revision:
                return built.vocabulary
            if built is not None and built.seconds > self.settings.search.sync_rebuild_s:
                if space not in self._vocabulary_builds:
                    self._vocabulary_builds.add(space)
                    threading.Thread(
                        target=self._rebuild_vocabulary,
                        args=(space,),
                        name="vocabulary-build",
                        daemon=True,
                    ).start()
                return built.vocabulary
            return self._build_vocabulary(space, locked=True)

    def _rebuild_vocabulary(self, space: str | None) -> None:
        try:
            self._build_vocabulary(space)
        except Exception:  # the old vocabulary keeps serving; the next change tries again
            log.exception("rebuilding the completion vocabulary failed")
        finally:
            with self._vocabulary_lock:
                self._vocabulary_builds.discard(space)

    def _build_vocabulary(self, space: str | None, locked: bool = False) -> Vocabulary:
        snapshot = self.snapshot()
        started = time.perf_counter()
        meta = snapshot.meta
        docs = [d for i, d in snapshot.documents.items() if meta[i].visible_in(space)]
        vocabulary = Vocabulary(sticker_counts(docs), self.library.query_counts())
        built = BuiltVocabulary(snapshot.revision, vocabulary, time.perf_counter() - started)
        with contextlib.nullcontext() if locked else self._vocabulary_lock:
            if space not in self._vocabularies and len(self._vocabularies) >= MAX_VOCABULARIES:
                self._vocabularies.pop(next(k for k in self._vocabularies if k is not None))
            self._vocabularies[space] = built
        return vocabulary

    def refresh(self, progress: Progress | None = None) -> int:
        """Rebuild the snapshot if the library changed and embed stale documents."""
        snapshot = self.fresh_snapshot()
        if not self.settings.search.dense:
            return 0
        identity = self.embedder.identity
        docs = self._maybe_stale(snapshot, identity)
        done = sync_text_vectors(
            self.db, docs, self.embedder, self.text_index, progress, self.control
        )
        if not self.control.stop.is_set():  # a stopped run left some for the next one
            if self._synced != (identity, snapshot.revision):
                record_sync_point(self.db, identity, snapshot.revision)
            self._synced = (identity, snapshot.revision)
        if done:  # new vectors change neighbour lists without a new revision
            self.forget_rankings()
        return done

    def _maybe_stale(self, snapshot: Snapshot, identity: str) -> list[StickerDocument]:
        """Documents that may lack a current vector: after one complete sync (by this process
        or, as recorded in the database, by any), only those whose text changed since.

        Hashing every document cost 1.2 s an import at 100k stickers, and 6.3 s at 1M, in which
        the collector's passes over the hashes stalled searches for up to 2 s.
        """
        model, stored = sync_point(self.db)
        mine = self._synced[1] if self._synced and self._synced[0] == identity else None
        since = max((r for r in (stored, mine) if r is not None), default=None)
        if model != identity or since is None:
            return list(snapshot.documents.values())
        with self.db.session() as s:
            changes = pending(s, since)
        if changes.full:
            return list(snapshot.documents.values())
        documents = snapshot.documents
        return [documents[i] for i in sorted(changes.text) if i in documents]

    def forget_rankings(self) -> None:
        """Drop every cached page and neighbour list."""
        self.pages.drop_where(lambda _key: True)
        self._neighbours.drop_where(lambda _key: True)

    def pipeline(self, only: Sequence[str] | None = None) -> AnnotationPipeline:
        """The annotation pipeline over the selected stages (all configured ones by default)."""
        key = tuple(only) if only is not None else None
        if key not in self._stages:
            # Stages hold loaded models: build them once per process and selection.
            self._stages[key] = make_stages(self.settings.understanding, only)
        cfg = self.settings.understanding
        return AnnotationPipeline(
            self.db, self.media, self._stages[key], self.style_index, cfg.batch_size, self.control
        )

    def style_embedder(self) -> StyleEmbedder | None:
        """The style stage's embedder (what made the library's style vectors), if configured."""
        if "style" not in self.settings.understanding.stages:
            return None
        key = ("style",)
        if key not in self._stages:
            self._stages[key] = make_stages(self.settings.understanding, key)
        return next(s.embedder for s in self._stages[key] if isinstance(s, StyleStage))

    def pool_size(self) -> int:
        """How many candidates recall keeps for ranking (PerSRV: 5 pages, at least 250)."""
        cfg = self.settings.search
        return max(5 * cfg.page_size, cfg.min_pool)

    def drop_pages(self, user: str, empty_query_only: bool = False) -> None:
        """Forget a user's cached pages (all, or only the empty query's recent list)."""

        def stale(key: object) -> bool:
            if not isinstance(key, tuple) or key[0] != user:
                return False
            return not empty_query_only or key[1] == ""

        self.pages.drop_where(stale)

    def neighbours(self, snapshot: Snapshot, text: str, k: int) -> list[tuple[int, float]] | None:
        """The text index's k nearest stickers to `text` at this snapshot, when looked up before."""
        return self._neighbours.get((text, k, snapshot.revision))

    def remember_neighbours(
        self, snapshot: Snapshot, text: str, k: int, found: list[tuple[int, float]]
    ) -> list[tuple[int, float]]:
        """Keep a neighbour list for `neighbours`; returns it."""
        self._neighbours.put((text, k, snapshot.revision), found)
        return found

    def embed_ahead(self, text: str) -> Future[Vector]:
        """Start embedding a query (or fetching it from the cache) in the embedding threads."""
        return self._embedding.submit(self.query_vectors.vector, text)

    def close(self) -> None:
        """Release the database and the writer lock (after a snapshot update or save under way)."""
        self._embedding.shutdown(wait=False, cancel_futures=True)
        self.snapshots.wait_for_background(CLOSE_WAIT_S)
        self.db.dispose()
        if self.lock:
            self.lock.release()
