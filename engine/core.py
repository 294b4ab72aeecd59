"""The state one open library shares between the facade's parts: storage, indexes, snapshot."""

import threading
from collections.abc import Sequence

from engine.annotate import AnnotationPipeline, Stage
from engine.cache import TTLCache
from engine.embedding import TextEmbedder
from engine.index import Snapshot, indexed_model, load_snapshot, sync_text_vectors
from engine.lexicon import Lexicon
from engine.library import Library
from engine.lock import WriterLock
from engine.media import MediaStore
from engine.recall import Candidate
from engine.settings import EngineSettings
from engine.stages import make_stages
from engine.storage import Database
from engine.types import Progress
from engine.vectors import VectorIndex


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
        self.media = MediaStore(settings.data_dir)
        self.library = Library(db, self.media, settings.ingest)
        self.text_index = text_index
        self.style_index = style_index
        self.embedder = embedder
        self.lexicon = Lexicon(settings.search.locales)
        self.lock = lock
        cfg = settings.search
        self.pages: TTLCache[list[Candidate]] = TTLCache(cfg.cache_size, cfg.cache_ttl_s)
        self._snapshot: Snapshot | None = None
        self.dense_ready = False  # set with each snapshot
        self._snapshot_lock = threading.Lock()
        self._stages: dict[tuple[str, ...] | None, list[Stage]] = {}

    def snapshot(self) -> Snapshot:
        """The snapshot of the current library revision, rebuilt when the library changed."""
        revision = self.db.revision()
        with self._snapshot_lock:
            if self._snapshot is None or self._snapshot.revision != revision:
                cfg = self.settings
                self._snapshot = load_snapshot(
                    self.db, self.lexicon, cfg.search, cfg.crowd, self.style_index
                )
                # Until the index job adopts a newly configured model, the index holds another
                # model's vectors: comparing them with this model's queries means nothing.
                self.dense_ready = indexed_model(self.db) == self.embedder.identity
            return self._snapshot

    def refresh(self, progress: Progress | None = None) -> int:
        """Rebuild the snapshot if the library changed and embed stale documents."""
        snapshot = self.snapshot()
        if not self.settings.search.dense:
            return 0
        return sync_text_vectors(
            self.db, snapshot.documents, self.embedder, self.text_index, progress
        )

    def pipeline(self, only: Sequence[str] | None = None) -> AnnotationPipeline:
        """The annotation pipeline over the selected stages (all configured ones by default)."""
        key = tuple(only) if only is not None else None
        if key not in self._stages:
            # Stages hold loaded models: build them once per process and selection.
            self._stages[key] = make_stages(self.settings.understanding, only)
        cfg = self.settings.understanding
        return AnnotationPipeline(
            self.db, self.media, self._stages[key], self.style_index, cfg.batch_size
        )

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
