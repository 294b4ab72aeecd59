"""Timing searches through the public surface: streams, threads, an import beside, a restart."""

import io
import json
import os
import resource
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from engine.benchmark.corpus import Corpus, SynthQuery
from engine.chromaserver import chroma_server
from engine.evaluation import ndcg
from engine.ingest import ImportItem
from engine.service import SearchService
from engine.settings import EngineSettings
from engine.types import SearchQuery

K = 10
PAGE = 50
Search = Callable[[SynthQuery], list[int]]


def latency(samples: Sequence[float]) -> dict[str, float]:
    """p50/p90/p99/max in milliseconds, and how many samples."""
    if not samples:
        return {"n": 0}
    ordered = sorted(samples)

    def pct(p: float) -> float:
        return round(ordered[min(len(ordered) - 1, int(p * len(ordered)))], 2)

    return {
        "n": len(ordered), "p50_ms": pct(0.5), "p90_ms": pct(0.9), "p99_ms": pct(0.99),
        "max_ms": round(ordered[-1], 2), "mean_ms": round(sum(ordered) / len(ordered), 2),
    }  # fmt: skip


def ours(svc: SearchService) -> Search:
    """One Telegram answer: the first page of 50 for the query's user."""

    def search(q: SynthQuery) -> list[int]:
        return [h.id for h in svc.search(SearchQuery(q.user, q.text, limit=PAGE)).hits]

    return search


def stream(search: Search, queries: Sequence[SynthQuery]) -> tuple[list[float], list[list[int]]]:
    """Each query once, one after another: milliseconds and the ids found."""
    times, found = [], []
    for q in queries:
        start = time.perf_counter()
        ids = search(q)
        times.append((time.perf_counter() - start) * 1000)
        found.append(ids)
    return times, found


def threaded(search: Search, queries: Sequence[SynthQuery], threads: int) -> dict[str, Any]:
    """The queries from `threads` threads at once: latency per call and throughput."""

    def one(q: SynthQuery) -> float:
        start = time.perf_counter()
        search(q)
        return (time.perf_counter() - start) * 1000

    start = time.perf_counter()
    with ThreadPoolExecutor(threads) as pool:
        times = list(pool.map(one, queries))
    wall = time.perf_counter() - start
    return {**latency(times), "qps": round(len(queries) / wall, 1), "threads": threads}


def quality(
    corpus: Corpus, queries: Sequence[SynthQuery], found: Sequence[list[int]]
) -> dict[str, float]:
    """Mean recall@10 (of min(10, relevant)) and binary NDCG@10 against the ground truth."""
    recalls, ndcgs = [], []
    for q, ids in zip(queries, found, strict=True):
        relevant = corpus.relevant(q.text)
        if not relevant:
            continue
        gains = [1.0 if i in relevant else 0.0 for i in ids[:K]]
        recalls.append(sum(gains) / min(K, len(relevant)))
        ndcgs.append(ndcg(gains, [1.0] * min(K, len(relevant))))
    n = max(len(recalls), 1)
    return {"recall@10": round(sum(recalls) / n, 4), "ndcg@10": round(sum(ndcgs) / n, 4)}


def measured(search: Search, corpus: Corpus, queries: Sequence[SynthQuery]) -> dict[str, Any]:
    """Latency, single-threaded throughput and quality of one query stream."""
    times, found = stream(search, queries)
    qps = round(len(times) / (sum(times) / 1000), 1) if times else 0.0
    return {**latency(times), "qps": qps, **quality(corpus, queries, found)}


def typing_stream(queries: Sequence[SynthQuery]) -> list[SynthQuery]:
    """Every prefix of each query, as Telegram sends them while the user types."""
    return [
        SynthQuery(q.locale, q.text[:i], q.user)
        for q in queries
        for i in range(1, len(q.text) + 1)
        if q.text[:i].strip()
    ]


def images(n: int, seed: int, emoji: Sequence[str], tag: str) -> list[ImportItem]:
    """`n` distinct noisy 128 px PNG stickers with emoji, for the engine's real import path."""
    rng = np.random.default_rng(seed)

    def png(k: int) -> bytes:
        pixels = rng.integers(0, 255, size=(128, 128, 4), dtype=np.uint8)
        pixels[..., 3] = 255
        pixels[0, 0, :3] = (k % 256, k // 256 % 256, seed % 256)
        out = io.BytesIO()
        Image.fromarray(pixels, "RGBA").save(out, "PNG")
        return out.getvalue()

    return [
        ImportItem(f"{tag}-{k}.png", _constant(png(k)), emoji=emoji[k % len(emoji)])
        for k in range(n)
    ]


def _constant(data: bytes) -> Callable[[], bytes]:
    return lambda: data


def beside_import(
    svc: SearchService, queries: Sequence[SynthQuery], items: Sequence[ImportItem]
) -> dict[str, Any]:
    """Search latency while the engine imports `items` (decode, store, index) in a thread."""
    done = threading.Event()
    took: list[float] = []

    def run_import() -> None:
        start = time.perf_counter()
        try:
            svc.library.import_items(items, "bench_import", added_by="bench")
        finally:
            took.append(time.perf_counter() - start)
            done.set()

    worker = threading.Thread(target=run_import, name="bench-import")
    worker.start()
    search, times, k = ours(svc), [], 0
    while not done.is_set():
        q = queries[k % len(queries)]
        user = f"{q.user}:imp{k // len(queries)}"  # a repeat is a new user: no cached page
        start = time.perf_counter()
        search(SynthQuery(q.locale, q.text, user))
        times.append((time.perf_counter() - start) * 1000)
        k += 1
    worker.join()
    return {**latency(times), "stickers_imported": len(items), "import_s": round(took[0], 2)}


def time_to_searchable(
    svc: SearchService, emoji: str, timeout_s: float = 600.0
) -> dict[str, float]:
    """Seconds from the start of a one-sticker import until a search finds it."""
    word = "zebracornbench"
    item = images(1, 99, [emoji], "fresh")[0]
    fresh = ImportItem("fresh_zebracorn.png", item.read, emoji=emoji, caption=word)
    start = time.perf_counter()
    report = svc.library.import_items([fresh], "bench_fresh", added_by="bench")
    imported = time.perf_counter() - start
    target = report.files[0].sticker_id
    while time.perf_counter() - start < timeout_s:
        page = svc.search(SearchQuery("bench:fresh", word, limit=PAGE))
        if any(h.id == target for h in page.hits):
            break
        time.sleep(0.01)
    return {
        "import_call_s": round(imported, 3),
        "searchable_s": round(time.perf_counter() - start, 3),
    }


def rss_mb(pid: int | None = None) -> float:
    """A process's resident set size now (Linux; this one by default), else our peak, in MiB."""
    try:
        for line in Path(f"/proc/{pid or 'self'}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / (1024 * 1024 if sys.platform == "darwin" else 1024)


def disk_mb(root: Path) -> float:
    """Bytes of every file under `root`, in MiB."""
    total = sum(p.stat().st_size for p in root.rglob("*") if p.is_file())
    return round(total / 2**20, 1)


def restart_with_server(settings: EngineSettings, work: Path, query: str) -> dict[str, Any]:
    """`restart`, with the library's vectors served by a Chroma server over the same files.

    The server holds the vector index, so this process's memory is the bot's alone; the
    server's is reported beside it (`chroma_server_rss_mb`, after the first answer).
    """
    chroma = settings.data_dir / "chroma"
    with chroma_server(chroma, work / "chroma-server.log") as server:
        vectors = settings.vectors.model_copy(
            update={"mode": "server", "host": server.host, "port": server.port}
        )
        served = settings.model_copy(update={"vectors": vectors})
        path = work / f"settings-{settings.data_dir.name}-server.json"
        path.write_text(served.model_dump_json(), encoding="utf-8")
        probe = restart(path, query)
        probe["chroma_server_rss_mb"] = round(rss_mb(server.pid), 1)
    return probe


def restart(settings_json: Path, query: str) -> dict[str, Any]:
    """A fresh process opens the library and answers one query: its timings and memory."""
    started = time.time()
    out = subprocess.run(
        [sys.executable, "-m", "engine.benchmark.probe", str(settings_json), query],
        check=True, capture_output=True, text=True, env={**os.environ},
    )  # fmt: skip
    probe = json.loads(out.stdout.strip().splitlines()[-1])
    probe["first_answer_s"] = round(probe.pop("answered_at") - started, 2)
    return dict(probe)
