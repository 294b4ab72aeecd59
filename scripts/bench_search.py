"""Search latency benchmark: p50/p99 per query for BM25 only, hybrid, and personalized search.

Usage (from the repository root):
    python scripts/bench_search.py ../shared/data/stickers-dev [--copies 3] [--work-dir DIR]
        [--typing-stream [--stream-queries N]]

`--copies N` imports every dev sticker N times with one pixel changed (new content hashes), to
measure a larger library (3 copies of the 3,870 dev stickers = 11,610). Each configuration runs
every dev query once with the page cache cleared, then once more to time cached pages. Ratios are
against BM25-only search in the same process; "hybrid, serial" embeds the query after BM25
instead of beside it (`search.embed_in_parallel = false`).

`--typing-stream` then replays every prefix of each dev query as it is typed (`h`, `ha`, `hap`,
...; one user per query, as Telegram sends an inline query at each pause) through hybrid search,
and prints its latency and the hit rate of the query-embedding cache, then the same stream with
the cache off (`search.embedding_cache_size = 0`) in the same process.
"""

import argparse
import io
import json
import random
import tempfile
import time
from pathlib import Path
from typing import Any

from PIL import Image

from engine import (
    EngineSettings,
    ImportItem,
    SearchQuery,
    SearchService,
    SearchSettings,
    StorageSettings,
    latency_summary,
    load_devset,
)


def variant(data: bytes, copy: int) -> bytes:
    """The same image with one pixel nudged, so it is a distinct sticker."""
    if copy == 0:
        return data
    image = Image.open(io.BytesIO(data)).convert("RGBA")
    r, g, b, a = image.getpixel((0, 0))
    image.putpixel((0, 0), ((r + copy) % 256, g, b, max(a, 1)))
    out = io.BytesIO()
    image.save(out, "WEBP", lossless=True)
    return out.getvalue()


def items(root: Path, rows: list[dict[str, str]], copies: int) -> list[ImportItem]:
    """Import items for every row and copy."""
    return [
        ImportItem(
            f"{c}/{r['file']}",
            lambda p=root / r["file"], c=c: variant(p.read_bytes(), c),
            emoji=r["emoji"],
        )
        for c in range(copies)
        for r in rows
    ]


def timed(svc: SearchService, user: str, texts: list[str]) -> list[float]:
    """Milliseconds per search."""
    out = []
    for text in texts:
        start = time.perf_counter()
        svc.search(SearchQuery(user, text, limit=50))
        out.append((time.perf_counter() - start) * 1000)
    return out


def typing_stream(settings: EngineSettings, texts: list[str]) -> dict[str, Any]:
    """Every prefix of each query, as typed, by one user per query: latency and cache hits."""
    with SearchService.open(settings) as svc:
        timed(svc, "bench:warm", ["warm-up"])  # model load, snapshot build
        cache = svc.query_vectors
        hits, misses = cache.hits, cache.misses
        samples = []
        for n, text in enumerate(texts):
            samples += timed(svc, f"bench:typist{n}", [text[:i] for i in range(1, len(text) + 1)])
        hits, misses = cache.hits - hits, cache.misses - misses
    return {
        "searches": len(samples),
        "latency": latency_summary(samples),
        "embedding_cache": {"hits": hits, "misses": misses, "hit_rate": hits / (hits + misses)},
    }


def typing_streams(base: EngineSettings, texts: list[str]) -> dict[str, Any]:
    """The typing stream with the query-embedding cache, then without it; prints both."""
    off = base.search.model_copy(update={"embedding_cache_size": 0})
    out = {
        "typing_stream": typing_stream(base, texts),
        "typing_stream_no_cache": typing_stream(base.model_copy(update={"search": off}), texts),
    }
    with_cache = out["typing_stream"]["latency"]
    for name, stream in out.items():
        lat, cache = stream["latency"], stream["embedding_cache"]
        print(
            f"{name:23s} {stream['searches']} searches  p50 {lat['p50']:.2f} ms"
            f"  p99 {lat['p99']:.2f} ms  (x{lat['p50'] / with_cache['p50']:.2f} of cached)"
            f"  embedding cache hit rate {cache['hit_rate']:.1%}"
        )
    return out


def main() -> None:
    """Build (or reuse) the library and print the latency table."""
    ap = argparse.ArgumentParser()
    ap.add_argument("data", type=Path)
    ap.add_argument("--copies", type=int, default=1)
    ap.add_argument("--work-dir", type=Path)
    ap.add_argument("--typing-stream", action="store_true")
    ap.add_argument("--stream-queries", type=int, help="Replay only the first N dev queries.")
    args = ap.parse_args()
    dev = load_devset(args.data)
    work = args.work_dir or Path(tempfile.mkdtemp(prefix="stickerbot-bench-"))
    texts = [q.text for q in dev.queries]
    report = {}
    base = EngineSettings(storage=StorageSettings(data_dir=work))
    with SearchService.open(base) as svc:
        if not svc.library.packs():
            t = time.perf_counter()
            svc.library.import_items(items(args.data, dev.rows, args.copies), "bench")
            took = time.perf_counter() - t
            print(f"imported and indexed {svc.library.stats().stickers} stickers in {took:.0f} s")
        ids = [s.id for s in svc.library.stickers()]
        for sticker in random.Random(0).sample(ids, 10):
            svc.users.record("bench:user", sticker, "sent")
        svc.crowd.update_profiles(["bench:user"])
    for name, dense, user, parallel in [
        ("bm25", False, "bench:anon", True),
        ("hybrid", True, "bench:anon", True),
        ("hybrid, serial", True, "bench:anon", False),  # embedding after BM25, not beside it
        ("hybrid+profile", True, "bench:user", True),
    ]:
        search = SearchSettings(dense=dense, embed_in_parallel=parallel)
        settings = base.model_copy(update={"search": search})
        with SearchService.open(settings) as svc:
            timed(svc, user, texts[:20])  # warm-up: model load, snapshot build
            svc.clear_page_cache()
            cold = timed(svc, user, texts)
            # The most recent queries are still in the LRU page cache: later pages cost this.
            warm = timed(svc, user, texts[-500:])
            report[name] = {
                "stickers": svc.library.stats().stickers,
                "cold": latency_summary(cold),
                "cached": latency_summary(warm),
            }
    baseline = report["bm25"]["cold"]["p50"]
    for name, r in report.items():
        cold, cached = r["cold"], r["cached"]
        print(
            f"{name:15s} {r['stickers']} stickers  cold p50 {cold['p50']:7.2f} ms"
            f"  p99 {cold['p99']:7.2f} ms  (x{cold['p50'] / baseline:.1f} of bm25)"
            f"  cached p50 {cached['p50']:.3f} ms"
        )
    if args.typing_stream:
        report |= typing_streams(base, texts[: args.stream_queries])
    print(json.dumps(report))


if __name__ == "__main__":
    main()
