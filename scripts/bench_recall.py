"""BM25 recall latency at library scale, as people type; no database and no text model.

Usage (from the repository root):
    python scripts/bench_recall.py ../shared/data/stickers-dev [--stickers 100000] [--ocr-words 2]

Builds N sticker documents from the dev emoji (CLDR keywords in the search locales), each with
`--ocr-words` random pseudo-words as OCR text so the vocabulary grows the way OCR and VLM text make
it grow, and times `FieldBM25.top` (the lexical half of every search) on the dev queries as typed
to the end, cut short (typing track prefixes) and with one typo, with typing support off and on.
"""

import argparse
import json
import random
import time
from pathlib import Path

from engine.documents import StickerDocument, build_document
from engine.evaluation import latency_summary, load_devset, typing_cases
from engine.lexicon import Lexicon
from engine.recall import FieldBM25
from engine.settings import DEFAULT_FIELD_WEIGHTS, SearchSettings

LETTERS = "abcdefghijklmnopqrstuvwxyz"


def documents(emoji: list[str], n: int, ocr_words: int, seed: int = 0) -> list[StickerDocument]:
    """N documents cycling through the emoji, with random OCR pseudo-words."""
    lexicon = Lexicon(SearchSettings().locales)
    base = {e: build_document(0, e, "", [], lexicon) for e in set(emoji)}
    rng = random.Random(seed)
    docs = []
    for i in range(n):
        doc = base[emoji[i % len(emoji)]]
        words = ["".join(rng.choices(LETTERS, k=rng.randint(4, 10))) for _ in range(ocr_words)]
        docs.append(StickerDocument(i, {**doc.fields, "ocr": " ".join(words)}))
    return docs


def timed(bm25: FieldBM25, texts: list[str]) -> list[float]:
    """Milliseconds per recall of a 250-candidate pool."""
    out = []
    for text in texts:
        start = time.perf_counter()
        bm25.top(text, 250)
        out.append((time.perf_counter() - start) * 1000)
    return out


def main() -> None:
    """Build the indexes and print latency per query kind, typing off and on."""
    ap = argparse.ArgumentParser()
    ap.add_argument("data", type=Path)
    ap.add_argument("--stickers", type=int, default=100_000)
    ap.add_argument("--ocr-words", type=int, default=2)
    args = ap.parse_args()
    dev = load_devset(args.data)
    cases = typing_cases(dev)
    kinds = {
        "full": [c.query.text for c in cases],
        "prefix": [c.prefix for c in cases if c.prefix],
        "typo": [c.typo for c in cases if c.typo],
    }
    start = time.perf_counter()
    docs = documents([r["emoji"] for r in dev.rows], args.stickers, args.ocr_words)
    print(f"{len(docs)} documents in {time.perf_counter() - start:.0f} s")
    report: dict[str, dict[str, dict[str, float]]] = {}
    for name, typing in (("off", None), ("on", SearchSettings().typing)):
        start = time.perf_counter()
        bm25 = FieldBM25(docs, DEFAULT_FIELD_WEIGHTS, 1.0, typing)
        print(f"typing {name}: indexes built in {time.perf_counter() - start:.0f} s")
        report[name] = {kind: latency_summary(timed(bm25, texts)) for kind, texts in kinds.items()}
        for kind, lat in report[name].items():
            print(f"typing {name:3s} {kind:6s} p50 {lat['p50']:6.2f} ms  p99 {lat['p99']:6.2f} ms")
    print(json.dumps({"stickers": len(docs), **report}))


if __name__ == "__main__":
    main()
