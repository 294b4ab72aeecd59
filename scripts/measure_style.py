"""Measure style embedders on the personalization question of DESIGN.md 2.3.

Simulated users each prefer one style and have a history of H stickers (round(0.1 H) of them in
other styles) drawn from one random half of the emoji. For held-out emoji of the other half, the
5 relevant candidates (the same emoji in the 5 styles) are ranked by a style score alone; the table
gives Hit@1 of the preferred style (chance 0.2, ties share the credit).

Run from the repository root:
    python scripts/measure_style.py ../shared/data/stickers-dev [--cache /tmp/style-cache]
"""

import argparse
import json
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image

from engine.understanding.style import (
    EfficientNetLiteEmbedder,
    StyleClusters,
    StyleEmbedder,
    StyleVectors,
    centred,
    cluster_boost,
    fit_style_clusters,
    knn_similarity,
    library_mean,
    mean_similarity,
    unit,
)

HISTORY_SIZES = (3, 10, 30)
NOISE = 0.1  # share of history items in other styles: users sometimes send other stickers

Score = Callable[[StyleVectors, StyleVectors], np.ndarray]


@dataclass
class Counter:
    """How often the PerSRV rule boosted no candidate at all."""

    none_boosted: int = 0
    queries: int = 0


@dataclass
class Dataset:
    """Stickers of the manifest in order, and a (hexcode, style) -> row lookup."""

    files: list[Path]
    hexcodes: list[str]
    styles: list[str]
    row: dict[tuple[str, str], int] = field(default_factory=dict)


def load_dataset(root: Path) -> Dataset:
    """Read manifest.jsonl; every emoji must have every style."""
    rows = [json.loads(line) for line in (root / "manifest.jsonl").read_text().splitlines()]
    styles = sorted({r["style"] for r in rows})
    data = Dataset([root / r["file"] for r in rows], sorted({r["hexcode"] for r in rows}), styles)
    data.row = {(r["hexcode"], r["style"]): i for i, r in enumerate(rows)}
    data.hexcodes = [h for h in data.hexcodes if all((h, s) in data.row for s in styles)]
    return data


def embed_all(embedder: StyleEmbedder, files: list[Path], cache: Path | None) -> StyleVectors:
    """Embed every sticker (or read the cache); print stickers/s."""
    target = cache / f"{embedder.name.replace(':', '_').replace('/', '_')}.npy" if cache else None
    if target is not None and target.exists():
        return np.asarray(np.load(target), dtype=np.float32)
    images = [Image.open(f).copy() for f in files]
    embedder.embed(images[:4])  # load the model outside the timing
    start = time.perf_counter()
    vectors = embedder.embed(images)
    seconds = time.perf_counter() - start
    load = os.getloadavg()[0]
    rate = len(images) / seconds
    took = f"{len(images)} in {seconds:.0f} s, load average {load:.1f}"
    print(f"{embedder.name}: {rate:.1f} stickers/s ({took})")
    if target is not None:
        target.parent.mkdir(parents=True, exist_ok=True)
        np.save(target, vectors)
    return vectors


def persrv_rule(counter: Counter) -> Score:
    """PerSRV: boost within a cluster radius by cos to its centroid; base scores are equal."""

    fitted: dict[bytes, StyleClusters] = {}

    def score(history: StyleVectors, candidates: StyleVectors) -> np.ndarray:
        key = history.tobytes()  # one fit per user, not per query
        if key not in fitted:
            fitted.clear()
            fitted[key] = fit_style_clusters(history)
        boost = cluster_boost(fitted[key], candidates)
        counter.queries += 1
        counter.none_boosted += int(np.all(boost == 1.0))
        return boost

    return score


def cos_to_mean(history: StyleVectors, candidates: StyleVectors) -> np.ndarray:
    """Cosine to the normalised mean history vector."""
    return np.asarray(candidates @ unit(history.mean(axis=0)))


def rules(counter: Counter) -> dict[str, Score]:
    """The scoring rules under comparison."""
    return {
        "(a) mean cos": mean_similarity,
        "(b) cos to mean": cos_to_mean,
        "(c) PerSRV": persrv_rule(counter),
        "(d) kNN max": lambda h, c: knn_similarity(h, c, 1),
        "(d) kNN top3": lambda h, c: knn_similarity(h, c, 3),
    }


def user_history(
    data: Dataset, rng: np.random.Generator, size: int
) -> tuple[int, list[int], np.ndarray]:
    """A preferred style, history rows from one half of the emoji, and the other half."""
    order = rng.permutation(len(data.hexcodes))
    half = len(order) // 2
    preferred = int(rng.integers(len(data.styles)))
    others = [s for s in range(len(data.styles)) if s != preferred]
    n_noise = round(NOISE * size)
    styles = [preferred] * (size - n_noise) + [int(rng.choice(others)) for _ in range(n_noise)]
    emoji = rng.choice(order[:half], size, replace=False)
    rows = [
        data.row[(data.hexcodes[e], data.styles[s])] for e, s in zip(emoji, styles, strict=True)
    ]
    return preferred, rows, order[half:]


def hit_at_1(
    data: Dataset, vectors: StyleVectors, score: Score, size: int, users: int, queries: int
) -> float:
    """Mean Hit@1 of the preferred style over simulated users (fixed seeds)."""
    credit, total = 0.0, 0
    for user in range(users):
        rng = np.random.default_rng(user)
        preferred, rows, held_out = user_history(data, rng, size)
        history = vectors[rows]
        for e in rng.choice(held_out, queries, replace=False):
            candidates = vectors[[data.row[(data.hexcodes[e], s)] for s in data.styles]]
            scores = score(history, candidates)
            best = np.flatnonzero(scores >= scores.max() - 1e-9)
            credit += float(preferred in best) / len(best)
            total += 1
    return credit / total


def report(data: Dataset, name: str, vectors: StyleVectors, users: int, queries: int) -> None:
    """Print one table block: rules x history sizes, raw and library-centred vectors."""
    for space, x in (("raw", vectors), ("centred", centred(vectors, library_mean(vectors)))):
        for rule_name, rule in rules(counter := Counter()).items():
            hits, none_boosted = [], []
            for size in HISTORY_SIZES:
                counter.none_boosted = counter.queries = 0
                hits.append(hit_at_1(data, x, rule, size, users, queries))
                none_boosted.append(counter.none_boosted / max(counter.queries, 1))
            cells = "  ".join(f"{v:6.3f}" for v in hits)
            extra = ""
            if counter.queries:  # only the PerSRV rule counts
                extra = "  no boost " + " ".join(f"{v:.2f}" for v in none_boosted)
            print(f"{name:10s} {space:8s} {rule_name:16s} {cells}{extra}", flush=True)


def main() -> None:
    """Embed the dev stickers in each mode and print the Hit@1 table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("data", type=Path)
    parser.add_argument("--users", type=int, default=200)
    parser.add_argument("--queries", type=int, default=20)
    parser.add_argument("--cache", type=Path, default=None, help="reuse embeddings saved here")
    parser.add_argument("--modes", nargs="+", default=["pooled", "gram"])
    parser.add_argument("--side", type=int, default=224, help="CNN input resolution")
    args = parser.parse_args()
    data = load_dataset(args.data)
    print(f"{len(data.hexcodes)} emoji x {len(data.styles)} styles, {args.users} users")
    embedded = {
        mode: embed_all(
            EfficientNetLiteEmbedder(mode, input_side=args.side), data.files, args.cache
        )
        for mode in args.modes
    }
    header = "  ".join(f"H={h:<4d}" for h in HISTORY_SIZES)
    print(f"\nHit@1 of the preferred style (chance {1 / len(data.styles):.2f})")
    print(f"{'features':10s} {'vectors':8s} {'rule':16s} {header}")
    for mode, vectors in embedded.items():
        report(data, mode, vectors, args.users, args.queries)


if __name__ == "__main__":
    main()
