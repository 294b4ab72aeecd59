"""Measure style embedders with the ranking code the bot runs (engine/personalize.py).

Simulated users each prefer one style and have a history of H stickers (round(0.1 H) of them in
other styles) drawn from one random half of the emoji. For held-out emoji of the other half, the
5 relevant candidates (the same emoji in the 5 styles) enter `personalize` with equal relevance,
so the style boost alone orders them; the table gives Hit@1 of the preferred style for each rule
of `PersonalizationSettings` (chance 0.2, ties share the credit), on raw and library-centred
style vectors (`StyleMatrix(centre=...)`). Every style is scored here, including the ones the
features were tuned on: for held-out figures use `stickerbot eval` (leave-one-style-out) and
scripts/study_styles.py.

Run from the repository root:
    python scripts/measure_style.py ../shared/data/stickers-dev [--cache /tmp/style-cache]
"""

import argparse
import json
import os
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
from PIL import Image

from engine.personalize import HistoryItem, Profile, build_profile, personalize
from engine.recall import Candidate
from engine.settings import PersonalizationSettings
from engine.styles import StyleMatrix
from engine.understanding.style import EfficientNetLiteEmbedder, StyleEmbedder, StyleVectors

HISTORY_SIZES = (3, 10, 30)
NOISE = 0.1  # share of history items in other styles: users sometimes send other stickers

# Every history item used once, just now: recency weights are equal, so the rules differ only
# in how they compare styles.
USED_AT = datetime.now(UTC)
RULES = {
    "nearest": PersonalizationSettings(rule="nearest"),
    "similarity": PersonalizationSettings(rule="similarity"),
    "knn k=1": PersonalizationSettings(rule="knn", knn_k=1),
    "knn k=3": PersonalizationSettings(rule="knn", knn_k=3),
    "persrv": PersonalizationSettings(rule="persrv"),
}


@dataclass
class Counter:
    """How often a rule boosted no candidate at all (PerSRV: none inside a cluster radius)."""

    none_boosted: int = 0
    queries: int = 0


@dataclass
class Dataset:
    """Stickers of the manifest in order, and a (hexcode, style) -> row lookup."""

    files: list[Path]
    hexcodes: list[str]
    styles: list[str]
    row: dict[tuple[str, str], int] = field(default_factory=dict)


@dataclass
class Runs:
    """How many simulated users and queries per user, and the no-boost counter of a block."""

    users: int
    queries: int
    counter: Counter = field(default_factory=Counter)


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


def boosted_scores(
    styles: StyleMatrix, profile: Profile, candidates: list[int], cfg: PersonalizationSettings
) -> np.ndarray:
    """The candidates' scores after `personalize`, in candidate order."""
    ranked = personalize([Candidate(row, 1.0) for row in candidates], profile, styles, cfg)
    score = {c.sticker_id: c.score for c in ranked}
    return np.array([score[row] for row in candidates])


def hit_at_1(
    data: Dataset, styles: StyleMatrix, cfg: PersonalizationSettings, size: int, runs: Runs
) -> float:
    """Mean Hit@1 of the preferred style over simulated users (fixed seeds)."""
    credit, total = 0.0, 0
    for user in range(runs.users):
        rng = np.random.default_rng(user)
        preferred, history, held_out = user_history(data, rng, size)
        profile = build_profile([HistoryItem(row, 1, USED_AT) for row in history], styles, cfg)
        for e in rng.choice(held_out, runs.queries, replace=False):
            candidates = [data.row[(data.hexcodes[e], s)] for s in data.styles]
            scores = boosted_scores(styles, profile, candidates, cfg)
            best = np.flatnonzero(scores >= scores.max() - 1e-9)
            credit += float(preferred in best) / len(best)
            runs.counter.queries += 1
            runs.counter.none_boosted += int(np.all(scores == 1.0))
            total += 1
    return credit / total


def report(data: Dataset, name: str, vectors: StyleVectors, runs: Runs) -> None:
    """Print one table block: rules x history sizes, raw and library-centred vectors."""
    ids = list(range(len(vectors)))
    for space, centre in (("raw", False), ("centred", True)):
        styles = StyleMatrix(ids, vectors, centre=centre)
        for rule_name, cfg in RULES.items():
            hits, none_boosted = [], []
            for size in HISTORY_SIZES:
                runs.counter = Counter()
                hits.append(hit_at_1(data, styles, cfg, size, runs))
                none_boosted.append(runs.counter.none_boosted / max(runs.counter.queries, 1))
            cells = "  ".join(f"{v:6.3f}" for v in hits)
            extra = "  no boost " + " ".join(f"{v:.2f}" for v in none_boosted)
            print(f"{name:10s} {space:8s} {rule_name:12s} {cells}{extra}", flush=True)


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
    print(f"{'features':10s} {'vectors':8s} {'rule':12s} {header}")
    for mode, vectors in embedded.items():
        report(data, mode, vectors, Runs(args.users, args.queries))


if __name__ == "__main__":
    main()
