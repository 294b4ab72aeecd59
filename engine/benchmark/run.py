"""`stickerbot bench`: synthetic libraries of given sizes, our search against the pg_trgm peer."""

import hashlib
import logging
import random
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from engine.benchmark import load, measure
from engine.benchmark.corpus import (
    Corpus,
    SynthQuery,
    add_users,
    assign_users,
    make_corpus,
    query_pool,
    users_of,
)
from engine.benchmark.peer import PeerIndex
from engine.benchmark.report import check_targets
from engine.chromaserver import chroma_executable
from engine.index import stale_documents
from engine.service import SearchService
from engine.settings import EngineSettings, StorageSettings, VectorSettings
from engine.types import SearchQuery

log = logging.getLogger(__name__)
Say = Callable[[str], None]


@dataclass(frozen=True)
class BenchOptions:
    """What `stickerbot bench` runs."""

    sizes: tuple[int, ...] = (10_000, 100_000)
    work_dir: Path | None = None
    peer_url: str | None = None  # None: a throwaway PostgreSQL cluster, if one is installed
    peer: bool = True
    server_restart: bool = True  # a second restart, with the vectors on a Chroma server
    novel: int = 300  # queries per stream
    typing: int = 40  # queries typed prefix by prefix
    import_stickers: int = 1000
    annotate_sample: int = 16
    seed: int = 0


@dataclass(frozen=True)
class Streams:
    """The query streams of one size: each novel to the library and to the others."""

    warm: list[SynthQuery]
    novel: list[SynthQuery]
    typing: list[SynthQuery]
    concurrent: list[SynthQuery]
    during: list[SynthQuery]


def _streams(corpus: Corpus, opts: BenchOptions) -> Streams:
    unique = list({text: (loc, text) for loc, text in query_pool(corpus, opts.seed)}.values())
    random.Random(opts.seed).shuffle(unique)
    n, t = opts.novel, opts.typing
    cut = [20, n, t, 2 * n, n]
    parts, start = [], 0
    for size in cut:
        parts.append(unique[start : start + size])
        start += size
    add_users(corpus, max(20, min(2000, len(corpus.stickers) // 50)), unique[start:], opts.seed)
    users = users_of(corpus)
    warm, novel, typed, concurrent, during = (
        assign_users(p, users, opts.seed + i) for i, p in enumerate(parts)
    )
    return Streams(warm, novel, measure.typing_stream(typed), concurrent, during)


def _library_settings(base: EngineSettings, data_dir: Path) -> EngineSettings:
    """The configured search, text model and stages over a fresh embedded SQLite library."""
    return base.model_copy(
        update={"storage": StorageSettings(data_dir=data_dir), "vectors": VectorSettings()}
    )


def _vector_store(path: Path) -> dict[str, np.ndarray]:
    if not path.exists():
        return {}
    with np.load(path) as data:
        return {str(t): v for t, v in zip(data["texts"], data["vectors"], strict=True)}


def build(svc: SearchService, corpus: Corpus, work: Path, say: Say) -> dict[str, Any]:
    """Write the corpus into the open library and build the search snapshot; timings."""
    core = svc._core  # the benchmark writes below the import path, as the engine itself does
    timings: dict[str, Any] = {}

    def step(name: str, action: Callable[[], object]) -> None:
        start = time.perf_counter()
        action()
        timings[f"{name}_s"] = round(time.perf_counter() - start, 2)
        say(f"  {name}: {timings[f'{name}_s']} s")

    model = hashlib.sha256(core.embedder.identity.encode()).hexdigest()[:12]
    store_path = work / f"emoji-vectors-{model}.npz"  # kept for later runs in the same work dir
    store = _vector_store(store_path)
    vectors: dict[str, np.ndarray] = {}
    step("insert_rows", lambda: load.insert_rows(core.db, corpus))
    step("crowd_and_profiles", lambda: load.crowd_and_profiles(core, corpus))
    if core.settings.search.dense:  # else no text model is loaded, as in search
        embed = lambda: vectors.update(  # noqa: E731
            load.emoji_vectors(corpus, core.embedder, core.lexicon, store)
        )
        step("embed_emoji", embed)
        np.savez(store_path, texts=np.array(list(store)), vectors=np.stack(list(store.values())))
    step("store_vectors", lambda: load.store_vectors(core, corpus, vectors))
    step("index_hashes", lambda: load.record_index_hashes(core))
    step("snapshot", core.fresh_snapshot)
    # Saving the snapshot runs behind searches; the idle streams must not run beside it.
    step("save_snapshot", core.snapshots.wait_for_background)
    snapshot = core.snapshot()
    stale = stale_documents(core.db, list(snapshot.documents.values()), core.embedder.identity)
    timings["stale_documents"] = len(stale)  # 0: the index job would re-embed nothing
    timings["total_s"] = round(sum(v for k, v in timings.items() if k.endswith("_s")), 2)
    timings["how"] = load.HOW
    return timings


def run_ours(svc: SearchService, corpus: Corpus, s: Streams, say: Say) -> dict[str, Any]:
    """Novel queries, the typing stream, 8 threads, and later pages, on an idle library."""
    search = measure.ours(svc)
    measure.stream(search, s.warm)  # model load and first-use costs
    out: dict[str, Any] = {"novel": measure.measured(search, corpus, s.novel)}
    say(f"  novel: {_brief(out['novel'])}")
    cache = svc.query_vectors
    hits, misses = cache.hits, cache.misses
    times, _ = measure.stream(search, s.typing)
    looked = max(cache.hits + cache.misses - hits - misses, 1)
    out["typing"] = {
        **measure.latency(times),
        "embedding_cache_hit_rate": round((cache.hits - hits) / looked, 3),
        # Keystrokes inside a word reuse the settled words' neighbour list and embed nothing.
        "model_calls_per_search": round((cache.misses - misses) / max(len(times), 1), 3),
    }
    say(f"  typing: {_brief(out['typing'])}")
    out["concurrent8"] = measure.threaded(search, s.concurrent, 8)
    say(f"  concurrent8: {_brief(out['concurrent8'])}")
    page2 = []
    for q in s.novel[:100]:  # Telegram's next page of an answered query: from the page cache
        start = time.perf_counter()
        svc.search(SearchQuery(q.user, q.text, limit=measure.PAGE, offset=measure.PAGE))
        page2.append((time.perf_counter() - start) * 1000)
    out["page2"] = measure.latency(page2)
    return out


def run_peer(url: str, corpus: Corpus, s: Streams, say: Say) -> dict[str, Any]:
    """The pg_trgm baseline on the same corpus and queries."""
    peer = PeerIndex(url)
    try:
        start = time.perf_counter()
        rows = peer.load(corpus)
        out: dict[str, Any] = {"load_s": round(time.perf_counter() - start, 2), "tag_rows": rows}
        search: measure.Search = lambda q: peer.search(q.text)  # noqa: E731
        measure.stream(search, s.warm)
        out["novel"] = measure.measured(search, corpus, s.novel)
        say(f"  peer novel: {_brief(out['novel'])}")
        out["typing"] = measure.latency(measure.stream(search, s.typing)[0])
        say(f"  peer typing: {_brief(out['typing'])}")
        return out
    finally:
        peer.close()


def run_writes(
    svc: SearchService, corpus: Corpus, s: Streams, opts: BenchOptions, say: Say
) -> dict[str, Any]:
    """Search beside a 1,000-sticker import, and the time until a new sticker is found."""
    emoji = sorted(corpus.by_emoji)
    items = measure.images(opts.import_stickers, opts.seed + 7, emoji, "imported")
    out = {"during_import": measure.beside_import(svc, s.during, items)}
    say(f"  during import: {_brief(out['during_import'])}")
    out["searchable"] = measure.time_to_searchable(svc, emoji[0])
    say(f"  searchable after {out['searchable']['searchable_s']} s")
    return out


def _brief(r: dict[str, Any]) -> str:
    keys = ("p50_ms", "p99_ms", "max_ms", "qps", "recall@10", "ndcg@10")
    return "  ".join(f"{k} {r[k]}" for k in keys if k in r)


def bench_size(
    base: EngineSettings, size: int, work: Path, peer_url: str | None, opts: BenchOptions, say: Say
) -> dict[str, Any]:
    """Everything measured at one library size."""
    say(f"size {size:,}: building")
    corpus = make_corpus(size, base.search.locales, opts.seed)
    streams = _streams(corpus, opts)
    data_dir = work / str(size)
    if data_dir.exists():
        import shutil

        shutil.rmtree(data_dir)
    settings = _library_settings(base, data_dir)
    result: dict[str, Any] = {
        "stickers": size,
        "packs": len(corpus.packs),
        "users": len(corpus.user_styles),
        "picks": len(corpus.picks),
    }
    with SearchService.open(settings) as svc:
        result["build"] = build(svc, corpus, work, say)
        result.update(run_ours(svc, corpus, streams, say))
        if peer_url:
            result["peer"] = run_peer(peer_url, corpus, streams, say)
            result["vs_peer"] = _versus(result)
        result.update(run_writes(svc, corpus, streams, opts, say))
    settings_file = work / f"settings-{size}.json"
    settings_file.write_text(settings.model_dump_json(), encoding="utf-8")
    result["restart"] = measure.restart(settings_file, streams.novel[0].text)
    say(f"  restart: first answer after {result['restart']['first_answer_s']} s")
    if opts.server_restart and chroma_executable() is not None:
        result["restart_server"] = measure.restart_with_server(
            settings, work, streams.novel[0].text
        )
        served = result["restart_server"]
        say(
            f"  restart with a Chroma server: {served['first_answer_s']} s, bot "
            f"{served['rss_without_models_mb']} MB w/o models, server "
            f"{served['chroma_server_rss_mb']} MB"
        )
    result["disk_mb"] = measure.disk_mb(data_dir)
    return result


def _versus(r: dict[str, Any]) -> dict[str, Any]:
    ours, peer = r["novel"], r["peer"]["novel"]
    return {
        "speedup_p50": round(peer["p50_ms"] / max(ours["p50_ms"], 1e-6), 2),
        "speedup_p99": round(peer["p99_ms"] / max(ours["p99_ms"], 1e-6), 2),
        "typing_speedup_p50": round(
            r["peer"]["typing"]["p50_ms"] / max(r["typing"]["p50_ms"], 1e-6), 2
        ),
        "recall_delta": round(ours["recall@10"] - peer["recall@10"], 4),
        "ndcg_delta": round(ours["ndcg@10"] - peer["ndcg@10"], 4),
    }


def annotation_rates(base: EngineSettings, work: Path, sample: int, say: Say) -> dict[str, Any]:
    """Stickers per second of the OCR and style stages on the bundled sample pack."""
    from importlib import resources

    from engine.settings import SearchSettings

    settings = _library_settings(base, work / "annotate").model_copy(
        update={"search": SearchSettings(dense=False)}
    )
    pack = Path(str(resources.files("engine.data.sample").joinpath("stickers")))
    out: dict[str, Any] = {"sample": sample, "vlm": "off (not configured by default)"}
    with SearchService.open(settings) as svc:
        if not svc.library.packs():
            svc.library.import_path(pack, "sample")
        for stage in ("ocr", "style"):
            svc.understanding.annotate(2, only=[stage])  # model load
            start = time.perf_counter()
            report = svc.understanding.annotate(sample, only=[stage])
            took = time.perf_counter() - start
            out[f"{stage}_stickers_per_s"] = round(report.annotated / took, 2) if took else None
            say(f"annotation {stage}: {out[f'{stage}_stickers_per_s']} stickers/s")
    return out


@contextmanager
def _peer(opts: BenchOptions, say: Say) -> Iterator[str | None]:
    if not opts.peer:
        yield None
        return
    import importlib.util

    if importlib.util.find_spec("psycopg") is None:
        say("peer skipped: psycopg is not installed (pip install 'stickerbot[postgres]')")
        yield None
        return
    if opts.peer_url:
        yield opts.peer_url
        return
    from engine.pgserver import postgres_server, server_binaries

    if server_binaries() is None:
        say("peer skipped: PostgreSQL is not installed and no --peer-url was given")
        yield None
        return
    with postgres_server() as url:
        yield url


def run_benchmark(base: EngineSettings, opts: BenchOptions, say: Say = print) -> dict[str, Any]:
    """Build each size, measure ours and the peer, and check the targets; the JSON report."""
    import tempfile

    work = opts.work_dir or Path(tempfile.mkdtemp(prefix="stickerbot-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    results: dict[str, Any] = {}
    with _peer(opts, say) if opts.peer else nullcontext() as url:
        for size in opts.sizes:
            results[str(size)] = bench_size(base, size, work, url, opts, say)
    if opts.annotate_sample:
        results["annotation"] = annotation_rates(base, work, opts.annotate_sample, say)
    results["targets"] = check_targets(results)
    results["setup"] = {"work_dir": str(work), "text_model": base.text_model.model, "how": load.HOW}
    return results
