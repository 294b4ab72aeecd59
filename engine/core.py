"""The state one open library shares between the facade's parts: storage, indexes, snapshot."""

import heapq
import threading
from collections.abc import Sequence

from engine.annotate import AnnotationPipeline, RunControl, Stage
from engine.cache import TTLCache
from engine.embedcache import QueryEmbeddingCache
from engine.embedding import TextEmbedder
from engine.index import Snapshot, indexed_model, load_snapshot, sync_text_vectors
from engine.lexicon import Lexicon
from engine.library import Library
from engine.lock import WriterLock
from engine.media import MediaStore
from engine.recall import Candidate
from engine.settings import EngineSettings
from engine.snapshots import SnapshotKeeper
from engine.stages import StyleStage, make_stages
from engine.storage import Database
from engine.suggest import Vocabulary, sticker_counts
from engine.types import Progress
from engine.understanding.style import StyleEmbedder
from engine.vectors import VectorIndex

MAX_VOCABULARIES = 32  # spaces with packs of their own whose vocabularies stay built
POPULAR = 500  # popular stickers kept ranked: what one or two typed letters show


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
    ) -> None:
        self.settings = settings
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
        self.pages: TTLCache[list[Candidate]] = TTLCache(cfg.cache_size, cfg.cache_ttl_s)
        self.query_vectors = QueryEmbeddingCache(embedder, cfg.embedding_cache_size)
        self.snapshots = SnapshotKeeper(self._build_snapshot, db.revision, cfg.sync_rebuild_s)
        self.dense_ready = False  # whether the index holds this model's vectors
        self._stages: dict[tuple[str, ...] | None, list[Stage]] = {}
        # Per revision, one vocabulary per space that asked: a scoped pack's words must not
        # complete queries in other spaces.
        self._vocabularies: tuple[int, dict[str | None, Vocabulary]] = (-1, {})
        self._vocabulary_lock = threading.Lock()  # its own: a build never holds up searches
        self._popular: tuple[int, list[int]] = (-1, [])

    def snapshot(self) -> Snapshot:
        """The snapshot searches use: the newest one, never waiting for a long rebuild."""
        return self.snapshots.latest()

    def fresh_snapshot(self) -> Snapshot:
        """The snapshot of the current revision, rebuilt now if needed (for writers)."""
        return self.snapshots.fresh()

    def _build_snapshot(self) -> Snapshot:
        cfg = self.settings
        snapshot = load_snapshot(self.db, self.lexicon, cfg.search, cfg.crowd, self.style_index)
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

    def vocabulary(self, space: str | None = None) -> Vocabulary:
        """The completion vocabulary of what `space` sees at this revision, built on first use."""
        snapshot = self.snapshot()
        if not snapshot.scoped.get(space or ""):
            space = None  # a space without packs of its own sees just the global ones
        with self._vocabulary_lock:
            revision, built = self._vocabularies
            if revision != snapshot.revision:
                built = {}
                self._vocabularies = (snapshot.revision, built)
            if space not in built:
                if len(built) >= MAX_VOCABULARIES:
                    built.pop(next(k for k in built if k is not None))
                meta = snapshot.meta
                docs = [d for d in snapshot.documents if meta[d.sticker_id].visible_in(space)]
                built[space] = Vocabulary(sticker_counts(docs), self.library.query_counts())
            return built[space]

    def refresh(self, progress: Progress | None = None) -> int:
        """Rebuild the snapshot if the library changed and embed stale documents."""
        snapshot = self.fresh_snapshot()
        if not self.settings.search.dense:
            return 0
        return sync_text_vectors(
            self.db, snapshot.documents, self.embedder, self.text_index, progress, self.control
        )

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

    def close(self) -> None:
        """Release the database and the writer lock."""
        self.db.dispose()
        if self.lock:
            self.lock.release()
