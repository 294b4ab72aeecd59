"""`SearchService`: the one facade that the CLI, the bots and the jobs call."""

import logging
from collections.abc import Awaitable
from typing import Protocol

import numpy as np
import numpy.typing as npt

from engine.core import Core
from engine.embedcache import QueryEmbeddingCache
from engine.embedding import TextEmbedder, make_text_embedder, spare_core
from engine.errors import InvalidInputError, StickerNotFoundError, UserFacingError
from engine.index import Snapshot
from engine.leases import JobLeases
from engine.library import validate_space, validate_user
from engine.lock import WriterLock
from engine.pages import DEEP, Ranking, deepened, dense_k, dense_pool
from engine.personalize import Profile, personalize
from engine.recall import Candidate, fuse_rrf, fuse_weighted
from engine.settings import EngineSettings
from engine.similar import (
    Anchor,
    anchor_content,
    anchor_style,
    mix,
    preview_image,
    resolve_anchor,
    style_neighbours,
    validate_similar,
)
from engine.storage import Database, sqlite_url
from engine.suggest import suggest
from engine.surface import CrowdApi, LibraryApi, PlatformApi, UnderstandingApi, UsersApi
from engine.text import is_fragment, normalize
from engine.threads import single_threaded_blas, want_threads
from engine.traffic import SearchTraffic
from engine.types import (
    MAX_PAGE,
    MAX_QUERY_CHARS,
    EngineStatus,
    Progress,
    SearchPage,
    SearchQuery,
    SimilarQuery,
    StickerHit,
    Suggestion,
)
from engine.vectors import VectorIndex, chroma_client, chroma_index

log = logging.getLogger(__name__)


class SearchService:
    """One open library: `search` on the hot path, and one part per concern.

    `library` (import, packs, stickers, proposals), `users` (interactions, forgetting,
    settings), `understanding` (annotation), `crowd` (utility, learned queries, profiles),
    `leases` (which process runs each background job) and `platform(name)` (one platform's
    sticker handles).
    """

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
        self._core = Core(settings, db, text_index, embedder, lock, style_index, traffic)
        self.library = LibraryApi(self._core)
        self.users = UsersApi(self._core)
        self.understanding = UnderstandingApi(self._core)
        self.crowd = CrowdApi(self._core)
        self.leases = JobLeases(db)
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
            traffic = SearchTraffic()
            gil_bound = traffic if settings.vectors.mode == "embedded" else None
            index = chroma_index(client, "sticker_text", prefix, gil_bound)
            styles = chroma_index(client, "sticker_style", prefix, gil_bound)
        except Exception:
            if lock:
                lock.release()
            raise
        tm = settings.text_model
        want_threads(tm.torch_threads)
        single_threaded_blas()
        embedder = embedder or make_text_embedder(tm)
        return cls(settings, db, index, embedder, lock, styles, traffic)

    @property
    def settings(self) -> EngineSettings:
        """The settings this library was opened with."""
        return self._core.settings

    @property
    def query_vectors(self) -> QueryEmbeddingCache:
        """The query-embedding cache (its `hits` and `misses` measure the typing stream)."""
        return self._core.query_vectors

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

    def suggest(
        self, user: str, text: str, limit: int = 10, space: str | None = None
    ) -> list[Suggestion]:
        """Completions of what the user is typing: their own past queries, then the library's.

        The library's phrases are those of packs visible in `space` (as in `search`).
        """
        validate_user(user)
        validate_space(space)
        if len(text) > MAX_QUERY_CHARS:
            raise InvalidInputError(f"text too long (at most {MAX_QUERY_CHARS} characters)")
        if not 1 <= limit <= MAX_PAGE:
            raise InvalidInputError(f"limit must be 1-{MAX_PAGE}")
        core = self._core
        return suggest(core.vocabulary(space), core.library.query_counts(user), text, limit)

    def sticker(self, sticker_id: int, space: str | None = None) -> StickerHit | None:
        """A sticker as a hit (score 0) if it is in the library and visible in `space`."""
        validate_space(space)
        meta = self._core.snapshot().meta.get(sticker_id)
        if meta is None or not meta.visible_in(space):
            return None
        return meta.hit(0.0, str(self._core.media.root))

    def request_stop(self) -> None:
        """Ask long runs (annotation, embedding) to end after the batch in progress."""
        self._core.control.stop.set()

    def halt_writes(self, timeout: float) -> bool:
        """Block every later vector write, waiting up to `timeout` s for one in progress.

        For a process about to exit while a run is still busy: True means nothing is left
        half-written (the run's uncommitted batch is simply redone next time).
        """
        return self._core.control.gate.acquire(timeout=timeout)

    def clear_page_cache(self) -> None:
        """Drop every cached ranking, so that the next searches rank afresh (for benchmarks)."""
        self._core.forget_rankings()

    # --- search --------------------------------------------------------------------------

    def search(self, query: SearchQuery) -> SearchPage:
        """One page of the ranked results for a user's query."""
        _validate_query(query)
        with self._core.traffic.serving():
            return self._search(query)

    def _search(self, query: SearchQuery) -> SearchPage:
        core = self._core
        snapshot = core.snapshot()
        text = normalize(query.text)
        profile, stamp = core.profiles.load(query.user)
        # The profile's stamp is in the key: a recomputed profile (maybe by another process)
        # must not be served stale pages.
        key = (query.user, text, query.include_nsfw, query.space, snapshot.revision, stamp)
        end = query.offset + query.limit
        cached = ranking = core.pages.get(key)
        if ranking is None:
            ranking = self._rank(snapshot, text, query, profile, end)
        if ranking.too_shallow_for(end):
            deep = self._rank(snapshot, text, query, profile, DEEP)
            ranking = deepened(ranking, deep, query.offset)
        if ranking is not cached:
            core.pages.put(key, ranking)
        return self._page(snapshot, ranking.candidates, query.offset, query.limit)

    def _page(
        self, snapshot: Snapshot, ranked: list[Candidate], offset: int, limit: int
    ) -> SearchPage:
        page = ranked[offset : offset + limit]
        root = str(self._core.media.root)
        hits = [snapshot.meta[c.sticker_id].hit(c.score, root) for c in page]
        end = offset + len(page)
        return SearchPage(hits, end if end < len(ranked) else None, len(ranked))

    def _rank(
        self, snapshot: Snapshot, text: str, query: SearchQuery, profile: Profile | None, end: int
    ) -> Ranking:
        core = self._core
        # Stickers of other spaces take recall slots and are dropped after: recall that many more.
        pool = core.pool_size() + snapshot.hidden_from(query.space)
        depth = 0
        if not text:
            ranked = _by_rank(core.library.recent_stickers(query.user, pool))
        elif is_fragment(text, core.settings.search.typing.min_prefix):
            ranked = self._fragment(snapshot, text, query, profile, pool)
        else:
            recalled, depth = self._recall(snapshot, text, pool, end)
            ranked = _with_priors(_visible(recalled, snapshot, query.space), snapshot.priors)
            cfg = core.settings.personalization
            ranked = personalize(ranked, profile, snapshot.styles, cfg)
        return Ranking(_shown(ranked, snapshot, query.include_nsfw, query.space), depth)

    def _fragment(
        self, snapshot: Snapshot, text: str, query: SearchQuery, profile: Profile | None, pool: int
    ) -> list[Candidate]:
        # One or two letters (`h`, `ha`) mean nothing yet: dense recall of them is noise. Whole
        # words that short (`ok`, `hi`, `да`) still match exactly; then come the user's own
        # recent stickers and the crowd's most useful ones, while the word is being typed.
        core = self._core
        matched = [Candidate(i, s) for i, s in snapshot.bm25.top(text, pool)]
        matched = _with_priors(_visible(matched, snapshot, query.space), snapshot.priors)
        exact = personalize(matched, profile, snapshot.styles, core.settings.personalization)
        familiar = [*core.library.recent_stickers(query.user, pool), *core.popular(snapshot)]
        seen = {c.sticker_id for c in exact}
        rest = [i for i in dict.fromkeys(familiar) if i not in seen]
        # Below every exact match, in their own order.
        floor = 0.5 * min((c.score for c in exact), default=1.0)
        return exact + [Candidate(c.sticker_id, floor * c.score) for c in _by_rank(rest)]

    def _recall(
        self, snapshot: Snapshot, text: str, pool: int, end: int
    ) -> tuple[list[Candidate], int]:
        """Fused lexical and dense candidates, and the depth dense recall stopped at (0: none)."""
        core = self._core
        cfg = core.settings.search
        embedder = core.embedder
        weight = embedder.dense_weight if cfg.dense_weight is None else cfg.dense_weight
        # While a word is being typed, the text model sees the words before it: `happy bi`
        # embeds as `happy`, so the keystrokes of one word share one vector and one neighbour
        # list (BM25 completes `bi`).
        settled = snapshot.bm25.settled(text)
        wants_dense = cfg.dense and weight > 0 and core.dense_ready and bool(settled)
        k, most = dense_k(pool, core.pool_size(), cfg.page_size, end)
        known = core.neighbours(snapshot, settled, k) if wants_dense else None
        # The query is embedded while BM25 runs: the model call releases the GIL, so a novel
        # query costs the slower of the two rather than their sum.
        parallel = wants_dense and known is None and _overlap(cfg.embed_in_parallel, embedder)
        ahead = core.embed_ahead(settled) if parallel else None
        lexical = snapshot.bm25.top(text, pool) if cfg.lexical else []
        dense: list[tuple[int, float]] = []
        if wants_dense:
            if known is None:
                vector = ahead.result() if ahead else core.query_vectors.vector(settled)
                known = core.remember_neighbours(
                    snapshot, settled, k, core.text_index.query(vector, k)
                )
            floor = cfg.dense_min_similarity
            floor = embedder.min_similarity if floor is None else floor
            dense = [(i, s) for i, s in known if s >= floor]
        # Cut short when the index gave all that was asked, the last one still counted, and more
        # could be asked for (past the floor, deeper neighbours would not count either).
        depth = k if k < most and len(dense) >= k else 0
        if cfg.fusion == "rrf":
            return fuse_rrf(lexical, dense, cfg.rrf_k), depth
        return fuse_weighted(lexical, dense, weight), depth

    # --- similar stickers ---------------------------------------------------------------

    def similar(self, query: SimilarQuery) -> SearchPage:
        """One page of the stickers that look like a library sticker or an image, for a user.

        Blocking and slower than search: a foreign image is decoded and embedded (the style
        model loads on first use). Pages are cached like search pages.
        """
        validate_similar(query)
        validate_user(query.user)
        validate_space(query.space)
        core = self._core
        snapshot = core.snapshot()
        anchor = resolve_anchor(core.db, query, core.settings.ingest.max_pixels)
        if anchor.sticker_id is not None and anchor.sticker_id not in snapshot.meta:
            raise StickerNotFoundError(f"No sticker with id {anchor.sticker_id}.")
        profile, stamp = core.profiles.load(query.user)
        hint = normalize(query.text)
        # The second element never equals a search text (those are normalised, no NUL).
        ref = f"\0similar {anchor.ref} {hint}"
        key = (query.user, ref, query.include_nsfw, query.space, snapshot.revision, stamp)
        ranking = core.pages.get(key)
        if ranking is None:
            ranking = Ranking(self._rank_similar(snapshot, anchor, hint, query, profile))
            core.pages.put(key, ranking)
        return self._page(snapshot, ranking.candidates, query.offset, query.limit)

    def _rank_similar(
        self,
        snapshot: Snapshot,
        anchor: Anchor,
        hint: str,
        query: SimilarQuery,
        profile: Profile | None,
    ) -> list[Candidate]:
        core = self._core
        pool = core.pool_size() + snapshot.hidden_from(query.space)
        vector = self._anchor_style(snapshot, anchor)
        if vector is None and anchor.sticker_id is None and not hint:
            raise UserFacingError(
                "I cannot compare this image yet: sticker styles have not been computed."
            )
        style = style_neighbours(snapshot.styles, vector) if vector is not None else []
        content = self._anchor_content(snapshot, anchor, hint, pool)
        ranked = _visible(mix(style, content, anchor.sticker_id), snapshot, query.space)
        cfg = core.settings.personalization
        ranked = personalize(ranked, profile, snapshot.styles, cfg)
        return _shown(ranked, snapshot, query.include_nsfw, query.space)

    def _anchor_style(self, snapshot: Snapshot, anchor: Anchor) -> npt.NDArray[np.float32] | None:
        stored = anchor_style(snapshot.styles, anchor.sticker_id)
        if stored is not None:
            return stored
        embedder = self._core.style_embedder()
        if embedder is None or not len(snapshot.styles):
            return None  # no style model, or nothing in the library to compare with yet
        image = anchor.image
        if image is None and anchor.sticker_id is not None:
            meta = snapshot.meta[anchor.sticker_id]
            image = preview_image(str(self._core.media.path(meta.preview_path)))
        if image is None:
            return None
        return snapshot.styles.project(embedder.embed([image])[0])

    def _anchor_content(
        self, snapshot: Snapshot, anchor: Anchor, hint: str, pool: int
    ) -> list[Candidate]:
        if anchor.sticker_id is None:
            return self._recall(snapshot, hint, pool, DEEP)[0] if hint else []
        core = self._core
        cfg = core.settings.search
        dense: list[tuple[int, float]] = []
        stored = core.text_index.get([anchor.sticker_id]) if cfg.dense else {}
        floor = cfg.dense_min_similarity
        floor = core.embedder.min_similarity if floor is None else floor
        if anchor.sticker_id in stored:
            dense = [
                (i, s)
                for i, s in core.text_index.query(
                    stored[anchor.sticker_id], dense_pool(pool, core.pool_size())
                )
                if s >= floor
            ]
        return anchor_content(snapshot, anchor.sticker_id, dense, pool)


class Job(Protocol):
    """A background job: one run over the engine, returning a one-line summary of what it did.

    The scheduler's jobs and the ones adapters contribute share this shape.
    """

    def __call__(self, svc: SearchService, progress: Progress | None = None) -> Awaitable[str]:
        """Run once; `progress` is called as (advance, total) when the job can tell."""
        ...


def _by_rank(ids: list[int]) -> list[Candidate]:
    """Candidates scored 1, 1/2, 1/3... in the given order."""
    return [Candidate(i, 1.0 / (rank + 1)) for rank, i in enumerate(ids)]


def _with_priors(ranked: list[Candidate], priors: dict[int, float]) -> list[Candidate]:
    """Add the crowd utility prior to each recall score (PerSRV) and re-sort."""
    if not priors:
        return ranked
    boosted = [Candidate(c.sticker_id, c.score + priors.get(c.sticker_id, 0.0)) for c in ranked]
    return sorted(boosted, key=lambda c: (-c.score, c.sticker_id))


def _overlap(setting: bool | None, embedder: TextEmbedder) -> bool:
    """Whether to embed the query beside BM25: as configured, else when a core is spare."""
    # Beside BM25 on the cores the model uses, the model slows by more than BM25 takes.
    return spare_core(embedder) if setting is None else setting


def _visible(ranked: list[Candidate], snapshot: Snapshot, space: str | None) -> list[Candidate]:
    """Candidates a caller in `space` may see (all of them when no pack is scoped)."""
    if not snapshot.scoped:
        return ranked
    get = snapshot.meta.get
    return [c for c in ranked if (m := get(c.sticker_id)) is not None and m.visible_in(space)]


def _shown(
    ranked: list[Candidate], snapshot: Snapshot, include_nsfw: bool, space: str | None
) -> list[Candidate]:
    """Candidates still in the library, visible in `space`, and NSFW only when opted in."""
    get = snapshot.meta.get  # one lookup per candidate
    return [
        c
        for c in ranked
        if (m := get(c.sticker_id)) is not None
        and (include_nsfw or not m.nsfw)
        and m.visible_in(space)
    ]


def _validate_query(query: SearchQuery) -> None:
    validate_user(query.user)
    validate_space(query.space)
    if len(query.text) > MAX_QUERY_CHARS:
        raise InvalidInputError(f"query too long (at most {MAX_QUERY_CHARS} characters)")
    if not 1 <= query.limit <= MAX_PAGE or query.offset < 0:
        raise InvalidInputError(f"limit must be 1-{MAX_PAGE} and offset at least 0")
