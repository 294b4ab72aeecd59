"""`SearchService`: the one facade that the CLI, the bots and the jobs call."""

import logging

from engine.core import Core
from engine.embedding import TextEmbedder, make_text_embedder
from engine.errors import InvalidInputError
from engine.index import Snapshot
from engine.library import validate_user
from engine.lock import WriterLock
from engine.personalize import Profile, load_profile, personalize
from engine.recall import Candidate, fuse_rrf, fuse_weighted
from engine.settings import EngineSettings
from engine.storage import Database, sqlite_url
from engine.surface import CrowdApi, LibraryApi, PlatformApi, UnderstandingApi, UsersApi
from engine.text import normalize
from engine.types import MAX_PAGE, MAX_QUERY_CHARS, EngineStatus, SearchPage, SearchQuery
from engine.vectors import VectorIndex, chroma_client, chroma_index

log = logging.getLogger(__name__)


class SearchService:
    """One open library: `search` on the hot path, and one part per concern.

    `library` (import, packs, stickers, proposals), `users` (interactions, forgetting,
    settings), `understanding` (annotation), `crowd` (utility, learned queries, profiles) and
    `platform(name)` (one platform's sticker handles).
    """

    def __init__(
        self,
        settings: EngineSettings,
        db: Database,
        text_index: VectorIndex,
        embedder: TextEmbedder,
        lock: WriterLock | None = None,
        style_index: VectorIndex | None = None,
    ) -> None:
        self._core = Core(settings, db, text_index, embedder, lock, style_index)
        self.library = LibraryApi(self._core)
        self.users = UsersApi(self._core)
        self.understanding = UnderstandingApi(self._core)
        self.crowd = CrowdApi(self._core)
        self._platforms: dict[str, PlatformApi] = {}

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
        embedder = embedder or make_text_embedder(tm)
        return cls(settings, db, index, embedder, lock, styles)

    @property
    def settings(self) -> EngineSettings:
        """The settings this library was opened with."""
        return self._core.settings

    def close(self) -> None:
        """Release the database and the writer lock."""
        self._core.close()

    def __enter__(self) -> "SearchService":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def platform(self, name: str) -> PlatformApi:
        """The handles part of one platform ("telegram", "discord")."""
        if name not in self._platforms:
            self._platforms[name] = PlatformApi(self._core, name)
        return self._platforms[name]

    def status(self) -> EngineStatus:
        """Library size, annotation backlog and waiting proposals, for status commands."""
        return EngineStatus(
            self.library.stats(),
            self.understanding.backlog(),
            len(self.library.proposals()),
        )

    def clear_page_cache(self) -> None:
        """Drop every cached ranking, so that the next searches rank afresh (for benchmarks)."""
        self._core.pages.drop_where(lambda _key: True)

    # --- search --------------------------------------------------------------------------

    def search(self, query: SearchQuery) -> SearchPage:
        """One page of the ranked results for a user's query."""
        _validate_query(query)
        core = self._core
        snapshot = core.snapshot()
        text = normalize(query.text)
        profile, stamp = load_profile(core.db, query.user)
        # The profile's stamp is in the key: a recomputed profile (maybe by another process)
        # must not be served stale pages.
        key = (query.user, text, query.include_nsfw, snapshot.revision, stamp)
        ranked = core.pages.get(key)
        if ranked is None:
            ranked = self._rank(snapshot, text, query, profile)
            core.pages.put(key, ranked)
        page = ranked[query.offset : query.offset + query.limit]
        root = str(core.media.root)
        hits = [snapshot.meta[c.sticker_id].hit(c.score, root) for c in page]
        end = query.offset + len(page)
        return SearchPage(hits, end if end < len(ranked) else None, len(ranked))

    def _rank(
        self, snapshot: Snapshot, text: str, query: SearchQuery, profile: Profile | None
    ) -> list[Candidate]:
        core = self._core
        if not text:
            recent = core.library.recent_stickers(query.user, core.pool_size())
            ranked = [Candidate(i, 1.0 / (rank + 1)) for rank, i in enumerate(recent)]
        else:
            ranked = _with_priors(self._recall(snapshot, text), snapshot.priors)
            cfg = core.settings.personalization
            ranked = personalize(ranked, profile, snapshot.styles, cfg)
        meta = snapshot.meta
        return [
            c
            for c in ranked
            if c.sticker_id in meta and (query.include_nsfw or not meta[c.sticker_id].nsfw)
        ]

    def _recall(self, snapshot: Snapshot, text: str) -> list[Candidate]:
        core = self._core
        cfg = core.settings.search
        pool = core.pool_size()
        lexical = snapshot.bm25.top(text, pool) if cfg.lexical else []
        dense: list[tuple[int, float]] = []
        if cfg.dense and cfg.dense_weight > 0 and core.dense_ready:
            vector = core.embedder.embed_queries([text])[0]
            floor = cfg.dense_min_similarity
            floor = core.embedder.min_similarity if floor is None else floor
            dense = [(i, s) for i, s in core.text_index.query(vector, pool) if s >= floor]
        if cfg.fusion == "rrf":
            return fuse_rrf(lexical, dense, cfg.rrf_k)
        return fuse_weighted(lexical, dense, cfg.dense_weight)


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
