"""`SearchService`: the typed facade that the CLI, the bots and the jobs call."""

import logging
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from engine import handles, proposals, users
from engine.annotate import AnnotateReport, AnnotationPipeline, Stage
from engine.cache import TTLCache
from engine.crowd import aggregate, recompute_history_queries, recompute_utility
from engine.embedcache import QueryEmbeddingCache
from engine.embedding import SentenceTransformerEmbedder, TextEmbedder
from engine.errors import InvalidInputError
from engine.index import Snapshot, load_snapshot, sync_text_vectors
from engine.ingest import ImportItem, items_from_path
from engine.lexicon import Lexicon
from engine.library import Library, validate_user
from engine.lock import WriterLock
from engine.media import MediaStore
from engine.models import (
    MAX_QUERY_CHARS,
    ForgetReport,
    ImportReport,
    InteractionKind,
    PackInfo,
    SearchPage,
    SearchQuery,
)
from engine.personalize import (
    Profile,
    build_profile,
    load_history,
    load_profile,
    personalize,
    save_profile,
    users_needing_profiles,
)
from engine.recall import Candidate, fuse_rrf, fuse_weighted
from engine.settings import EngineSettings
from engine.stages import make_stages
from engine.storage import Database, sqlite_url
from engine.text import normalize
from engine.vectors import VectorIndex, chroma_client, chroma_index

log = logging.getLogger(__name__)
Progress = Callable[[int, int], None]  # (advance, total)
MAX_PAGE = 50


class SearchService:
    """Import, search, interactions and pack management over one library."""

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
        self._lock = lock
        self._snapshot: Snapshot | None = None
        self._stages: dict[tuple[str, ...] | None, list[Stage]] = {}
        self._snapshot_lock = threading.Lock()
        cfg = settings.search
        self._cache: TTLCache[list[Candidate]] = TTLCache(cfg.cache_size, cfg.cache_ttl_s)
        self.query_vectors = QueryEmbeddingCache(embedder, cfg.embedding_cache_size)

    @classmethod
    def open(
        cls, settings: EngineSettings, embedder: TextEmbedder | None = None
    ) -> "SearchService":
        """Open the library under settings.data_dir, taking the writer lock in embedded mode."""
        data_dir = settings.data_dir
        data_dir.mkdir(parents=True, exist_ok=True)
        lock = None
        if settings.vectors.mode == "embedded":
            lock = WriterLock(data_dir)
            lock.acquire()
        try:
            db = Database(settings.storage.database_url or sqlite_url(data_dir))
            client = chroma_client(settings.vectors, data_dir)
            prefix = settings.vectors.collection_prefix
            index = chroma_index(client, "sticker_text", prefix)
            styles = chroma_index(client, "sticker_style", prefix)
        except Exception:
            if lock:
                lock.release()
            raise
        tm = settings.text_model
        if tm.torch_threads:
            import torch

            torch.set_num_threads(tm.torch_threads)
        embedder = embedder or SentenceTransformerEmbedder(tm.model, tm.device, tm.batch_size)
        return cls(settings, db, index, embedder, lock, styles)

    def close(self) -> None:
        """Release the database and the writer lock."""
        self.db.dispose()
        if self._lock:
            self._lock.release()

    def __enter__(self) -> "SearchService":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- library -------------------------------------------------------------------------

    def import_path(
        self,
        path: Path,
        pack: str,
        title: str = "",
        added_by: str = "",
        progress: Progress | None = None,
    ) -> ImportReport:
        """Import a folder, zip archive, manifest JSONL or single file as a local pack."""
        items = items_from_path(path, self.settings.ingest.max_file_bytes)
        return self.import_pack(items, pack, title=title, added_by=added_by, progress=progress)

    def import_pack(
        self,
        items: Sequence[ImportItem],
        pack: str,
        *,
        source: str = "local",
        title: str = "",
        added_by: str = "",
        progress: Progress | None = None,
        index_progress: Progress | None = None,
    ) -> ImportReport:
        """Import items into a pack and bring the search indexes up to date."""
        report = self.library.import_items(
            pack, items, source=source, title=title, added_by=added_by, progress=progress
        )
        self.refresh(index_progress)
        return report

    def refresh(self, progress: Progress | None = None) -> int:
        """Rebuild the snapshot if the library changed and embed stale documents."""
        snapshot = self._current_snapshot()
        if not self.settings.search.dense:
            return 0
        return sync_text_vectors(
            self.db, snapshot.documents, self.embedder, self.text_index, progress
        )

    def packs(self) -> list[PackInfo]:
        """All packs with sticker counts."""
        return self.library.packs()

    def remove_pack(self, name: str, source: str | None = None) -> int:
        """Remove a pack, its stickers, media and vectors; return the number of stickers."""
        removed = self.library.remove_pack(name, source)
        self.text_index.delete(removed)
        if self.style_index is not None:
            self.style_index.delete(removed)
        return len(removed)

    # --- understanding -------------------------------------------------------------------

    def _pipeline(self, only: Sequence[str] | None = None) -> AnnotationPipeline:
        key = tuple(only) if only is not None else None
        if key not in self._stages:
            # Stages hold loaded models: build them once per process and selection.
            self._stages[key] = make_stages(self.settings.understanding, only)
        cfg = self.settings.understanding
        return AnnotationPipeline(
            self.db, self.media, self._stages[key], self.style_index, cfg.batch_size
        )

    def annotate(
        self,
        limit: int | None = None,
        progress: Progress | None = None,
        only: Sequence[str] | None = None,
    ) -> AnnotateReport:
        """Run the understanding stages over stickers whose annotations are missing or stale."""
        report = self._pipeline(only).run(limit, progress)
        self.refresh()
        return report

    def annotation_backlog(self, only: Sequence[str] | None = None) -> int:
        """How many stickers still need some stage."""
        return len(self._pipeline(only).pending())

    # --- crowd jobs ----------------------------------------------------------------------

    def update_utility(self) -> int:
        """Recompute crowd utility from interactions; return stickers with utility."""
        return recompute_utility(self.db, aggregate(self.db), self.settings.crowd)

    def update_history_queries(self) -> int:
        """Recompute learned history queries; return stickers that have some."""
        return recompute_history_queries(self.db, aggregate(self.db), self.settings.crowd)

    def update_profiles(self, users: Sequence[str] | None = None) -> int:
        """Recompute style profiles of users with new interactions; return how many."""
        styles = self._current_snapshot().styles
        cfg = self.settings.personalization
        todo = list(users) if users is not None else users_needing_profiles(self.db)
        for user in todo:
            history = load_history(self.db, user)
            save_profile(self.db, user, build_profile(history, styles, cfg), len(history))
        return len(todo)

    # --- users ---------------------------------------------------------------------------

    def record_interaction(
        self,
        user: str,
        sticker_id: int,
        kind: InteractionKind = "chosen",
        query: str = "",
        platform: str = "cli",
        chat_type: str = "",
    ) -> int:
        """Record that a user chose (from results) or sent a sticker."""
        row = self.library.record_interaction(user, sticker_id, kind, query, platform, chat_type)
        # The empty-query page lists recent stickers; it must show this one at once.
        self._cache.drop_where(lambda k: isinstance(k, tuple) and k[0] == user and k[1] == "")
        return row

    def forget_user(self, user: str) -> ForgetReport:
        """Delete a user's history, profile and cached pages."""
        report = self.library.forget_user(user)
        self._cache.drop_where(lambda k: isinstance(k, tuple) and k[0] == user)
        return report

    # --- search --------------------------------------------------------------------------

    def search(self, query: SearchQuery) -> SearchPage:
        """One page of the ranked results for a user's query."""
        _validate_query(query)
        snapshot = self._current_snapshot()
        text = normalize(query.text)
        profile, stamp = load_profile(self.db, query.user)
        # The profile's stamp is in the key: a recomputed profile (maybe by another process)
        # must not be served stale pages.
        key = (query.user, text, query.include_nsfw, snapshot.revision, stamp)
        ranked = self._cache.get(key)
        if ranked is None:
            ranked = self._rank(snapshot, text, query, profile)
            self._cache.put(key, ranked)
        page = ranked[query.offset : query.offset + query.limit]
        root = str(self.media.root)
        hits = [snapshot.meta[c.sticker_id].hit(c.score, root) for c in page]
        end = query.offset + len(page)
        return SearchPage(hits, end if end < len(ranked) else None, len(ranked))

    def _rank(
        self, snapshot: Snapshot, text: str, query: SearchQuery, profile: Profile | None
    ) -> list[Candidate]:
        if not text:
            recent = self.library.recent_stickers(query.user, self._pool_size())
            ranked = [Candidate(i, 1.0 / (rank + 1)) for rank, i in enumerate(recent)]
        else:
            ranked = _with_priors(self._recall(snapshot, text), snapshot.priors)
            cfg = self.settings.personalization
            ranked = personalize(ranked, profile, snapshot.styles, cfg)
        meta = snapshot.meta
        return [
            c
            for c in ranked
            if c.sticker_id in meta and (query.include_nsfw or not meta[c.sticker_id].nsfw)
        ]

    def _recall(self, snapshot: Snapshot, text: str) -> list[Candidate]:
        cfg = self.settings.search
        pool = self._pool_size()
        lexical = snapshot.bm25.top(text, pool)
        dense: list[tuple[int, float]] = []
        if cfg.dense and cfg.dense_weight > 0:
            vector = self.query_vectors.vector(text)
            dense = [
                (i, s)
                for i, s in self.text_index.query(vector, pool)
                if s >= cfg.dense_min_similarity
            ]
        if cfg.fusion == "rrf":
            return fuse_rrf(lexical, dense, cfg.rrf_k)
        return fuse_weighted(lexical, dense, cfg.dense_weight)

    def _pool_size(self) -> int:
        cfg = self.settings.search
        return max(5 * cfg.page_size, cfg.min_pool)

    def _current_snapshot(self) -> Snapshot:
        revision = self.db.revision()
        with self._snapshot_lock:
            if self._snapshot is None or self._snapshot.revision != revision:
                cfg = self.settings
                self._snapshot = load_snapshot(
                    self.db, self.lexicon, cfg.search, cfg.crowd, self.style_index
                )
            return self._snapshot

    def stats(self) -> dict[str, Any]:
        """Library size, for status commands."""
        snapshot = self._current_snapshot()
        return {
            "stickers": len(snapshot.meta),
            "packs": len(self.packs()),
            "revision": snapshot.revision,
        }

    # --- platform support ----------------------------------------------------------------

    def nsfw_opt_in(self, user: str) -> bool:
        """Whether the user opted in to NSFW stickers."""
        return users.nsfw_opt_in(self.db, user)

    def set_nsfw_opt_in(self, user: str, on: bool) -> None:
        """Store the user's NSFW choice; it lasts until changed or the user is forgotten."""
        users.set_nsfw_opt_in(self.db, user, on)

    def pending_uploads(
        self, limit: int, exclude: frozenset[int] = frozenset()
    ) -> list[handles.PendingUpload]:
        """Stickers with no Telegram file_id yet, oldest first, with absolute paths."""
        root = self.media.root
        return [
            handles.PendingUpload(
                p.sticker_id, p.format, str(root / p.media_path), str(root / p.preview_path)
            )
            for p in handles.pending_uploads(self.db, limit, exclude)
        ]

    def upload_backlog(self) -> int:
        """How many stickers cannot be sent on Telegram yet."""
        return handles.upload_backlog(self.db)

    def set_telegram_handles(self, sticker_id: int, file_id: str, unique_id: str) -> None:
        """Store the Telegram file_id and file_unique_id that an upload returned."""
        handles.set_telegram_handles(self.db, sticker_id, file_id, unique_id)

    def sticker_by_telegram_unique_id(self, unique_id: str) -> int | None:
        """The library's sticker with this Telegram file_unique_id, if any."""
        return handles.sticker_by_telegram_unique_id(self.db, unique_id)

    def propose_pack(self, source: str, name: str, user: str) -> bool:
        """Record a user's pack proposal; False when it is already waiting."""
        return proposals.propose_pack(self.db, source, name, user)

    def pack_proposals(self) -> list[proposals.ProposalInfo]:
        """Pack proposals waiting for an admin."""
        return proposals.pending_proposals(self.db)

    def resolve_proposal(self, source: str, name: str) -> bool:
        """Drop a proposal once its pack is imported; True if one was waiting."""
        return proposals.resolve_proposal(self.db, source, name)


def _with_priors(ranked: list[Candidate], priors: dict[int, float]) -> list[Candidate]:
    """Add the crowd utility prior to each recall score (PerSRV) and re-sort."""
    if not priors:
        return ranked
    boosted = [Candidate(c.sticker_id, c.score + priors.get(c.sticker_id, 0.0)) for c in ranked]
    return sorted(boosted, key=lambda c: (-c.score, c.sticker_id))


def _validate_query(query: SearchQuery) -> None:
    validate_user(query.user)
    if len(query.text) > MAX_QUERY_CHARS:
        raise InvalidInputError(f"query too long (at most {MAX_QUERY_CHARS} characters)")
    if not 1 <= query.limit <= MAX_PAGE or query.offset < 0:
        raise InvalidInputError(f"limit must be 1-{MAX_PAGE} and offset at least 0")
