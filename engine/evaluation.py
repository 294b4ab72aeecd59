"""Offline evaluation on a `stickers-dev`-format directory (DESIGN.md 2.5): metrics and tracks."""

import hashlib
import json
import math
import random
import statistics
import time
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from engine.errors import InvalidInputError
from engine.ingest import ImportItem, items_from_path
from engine.service import SearchService
from engine.types import SearchQuery

K = 10


@dataclass(frozen=True)
class EvalQuery:
    """A query and the hexcodes CLDR calls relevant to it."""

    locale: str
    text: str
    relevant: frozenset[str]


@dataclass
class DevSet:
    """Manifest labels, grouped by content so duplicate images score as one sticker."""

    root: Path
    rows: list[dict[str, str]]
    queries: list[EvalQuery]
    hash_by_file: dict[str, str] = field(default_factory=dict)
    labels_by_file: dict[str, frozenset[str]] = field(default_factory=dict)

    def relevant_count(self, relevant: frozenset[str]) -> int:
        """How many distinct stickers (by content) carry a relevant hexcode."""
        return len({self.hash_by_file[r["file"]] for r in self.rows if r["hexcode"] in relevant})


def load_devset(root: Path, split: str = "dev") -> DevSet:
    """Read manifest.jsonl and queries-<split>.jsonl of a stickers-dev directory."""
    manifest, queries = root / "manifest.jsonl", root / f"queries-{split}.jsonl"
    for path in (manifest, queries):
        if not path.is_file():
            raise InvalidInputError(f"{path} is missing: not a stickers-dev directory")
    rows = [json.loads(line) for line in manifest.open(encoding="utf-8") if line.strip()]
    qs = [
        EvalQuery(q["locale"], q["query"], frozenset(q["relevant"]))
        for q in (json.loads(line) for line in queries.open(encoding="utf-8") if line.strip())
    ]
    dev = DevSet(root, rows, qs)
    dev.hash_by_file = {r["file"]: _sha256(root / r["file"]) for r in rows}
    # Identical images under several names are one sticker carrying every name's label.
    by_hash: dict[str, set[str]] = defaultdict(set)
    for r in rows:
        by_hash[dev.hash_by_file[r["file"]]].add(r["hexcode"])
    dev.labels_by_file = {f: frozenset(by_hash[h]) for f, h in dev.hash_by_file.items()}
    return dev


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def dcg(gains: Sequence[float], k: int = K) -> float:
    """Discounted cumulative gain of the first k gains."""
    return sum(g / math.log2(rank + 2) for rank, g in enumerate(gains[:k]))


def ndcg(gains: Sequence[float], ideal: Sequence[float], k: int = K) -> float:
    """NDCG@k of ranked gains against the ideal gains."""
    best = dcg(sorted(ideal, reverse=True), k)
    return dcg(gains, k) / best if best > 0 else 0.0


def reciprocal_rank(hits: Sequence[bool]) -> float:
    """1/rank of the first relevant hit, 0 when none."""
    return next((1.0 / (i + 1) for i, h in enumerate(hits) if h), 0.0)


@dataclass
class TrackResult:
    """Metrics of one track, overall and per locale, with per-query latencies."""

    name: str
    per_locale: dict[str, dict[str, float]]
    overall: dict[str, float]
    latencies_ms: list[float]

    def to_json(self) -> dict[str, Any]:
        """JSON-ready summary (latency percentiles, not raw samples)."""
        return {
            "track": self.name,
            "overall": self.overall,
            "per_locale": self.per_locale,
            "latency_ms": latency_summary(self.latencies_ms),
        }


def latency_summary(samples: Sequence[float]) -> dict[str, float]:
    """p50/p90/p99/max of latency samples in milliseconds."""
    if not samples:
        return {}
    ordered = sorted(samples)

    def pct(p: float) -> float:
        return round(ordered[min(len(ordered) - 1, int(p * len(ordered)))], 2)

    return {"p50": pct(0.5), "p90": pct(0.9), "p99": pct(0.99), "max": round(ordered[-1], 2)}


def _mean(rows: Iterable[dict[str, float]]) -> dict[str, float]:
    rows = list(rows)
    return {m: round(statistics.fmean(r[m] for r in rows), 4) for m in rows[0]} if rows else {}


def score_query(dev: DevSet, q: EvalQuery, files: Sequence[str]) -> dict[str, float]:
    """NDCG@10, MRR, Hit@1, Hit@10 of one ranked list of hit files."""
    hits = [bool(dev.labels_by_file.get(f, frozenset()) & q.relevant) for f in files]
    ideal = [1.0] * dev.relevant_count(q.relevant)
    return {
        "ndcg@10": ndcg([float(h) for h in hits], ideal),
        "mrr": reciprocal_rank(hits),
        "hit@1": float(any(hits[:1])),
        "hit@10": float(any(hits[:K])),
    }


def run_queries(
    svc: SearchService,
    dev: DevSet,
    user: str,
    progress: Callable[[int, int], None] | None = None,
    name: str = "lexicon",
) -> TrackResult:
    """Search every query as `user` and score the top 10."""
    per_locale: dict[str, list[dict[str, float]]] = defaultdict(list)
    latencies: list[float] = []
    for n, q in enumerate(dev.queries, 1):
        start = time.perf_counter()
        page = svc.search(SearchQuery(user=user, text=q.text, limit=K))
        latencies.append((time.perf_counter() - start) * 1000)
        per_locale[q.locale].append(score_query(dev, q, [h.file for h in page.hits]))
        if progress and n % 50 == 0:
            progress(50, len(dev.queries))
    return TrackResult(
        name,
        {loc: _mean(rows) for loc, rows in sorted(per_locale.items())},
        _mean(r for rows in per_locale.values() for r in rows),
        latencies,
    )


def manifest_items(dev: DevSet, with_emoji: bool, max_bytes: int) -> list[ImportItem]:
    """Import items from the manifest: `file`, and `emoji` only when the track allows it."""
    items = items_from_path(dev.root / "manifest.jsonl", max_bytes)
    if with_emoji:
        return items
    return [ImportItem(i.name, i.read) for i in items]


def lexicon_track(
    svc: SearchService, dev: DevSet, progress: Callable[[int, int], None] | None = None
) -> TrackResult:
    """Stickers imported with their emoji; every dev query searched by one fresh user."""
    if not any(p.name == "eval-lexicon" for p in svc.library.packs()):
        items = manifest_items(dev, True, svc.settings.ingest.max_file_bytes)
        svc.library.import_items(items, "eval-lexicon", title="")
    return run_queries(svc, dev, "eval:lexicon", progress)


def blind_track(
    svc: SearchService, dev: DevSet, progress: Callable[[int, int], None] | None = None
) -> TrackResult:
    """Stickers imported without emoji and annotated from pixels only (OCR, VLM); no history."""
    if not any(p.name == "eval-blind" for p in svc.library.packs()):
        items = manifest_items(dev, False, svc.settings.ingest.max_file_bytes)
        svc.library.import_items(items, "eval-blind", title="")
    svc.understanding.annotate(only=["ocr", "vlm"])
    return run_queries(svc, dev, "eval:blind", progress, name="blind")


LATIN = "abcdefghijklmnopqrstuvwxyz"
CYRILLIC = "абвгдежзийклмнопрстуфхцчшщъыьэюя"
TYPO_MIN_LETTERS = 5


def prefix_variant(text: str) -> str | None:
    """The query as typed so far: its last word cut to 60% of its letters, at least 3."""
    head, _, word = text.rpartition(" ")
    keep = max(3, math.ceil(0.6 * len(word)))
    return f"{head} {word[:keep]}".lstrip() if keep < len(word) else None


def _alphabet(word: str) -> str | None:
    if all(ch in CYRILLIC or ch == "ё" for ch in word):
        return CYRILLIC
    # Basic Latin up to Latin Extended-B: the letters of every Latin-script dev locale.
    return LATIN if all(ch.isalpha() and ord(ch) < 0x250 for ch in word) else None


def _misspell(word: str, letters: str, rng: random.Random) -> str:
    for _ in range(20):
        i = rng.randrange(len(word))
        op = rng.choice(("insert", "delete", "substitute", "transpose"))
        if op == "insert":
            out = word[:i] + rng.choice(letters) + word[i:]
        elif op == "delete":
            out = word[:i] + word[i + 1 :]
        elif op == "substitute":
            out = word[:i] + rng.choice(letters) + word[i + 1 :]
        else:
            i = min(i, len(word) - 2)
            out = word[:i] + word[i + 1] + word[i] + word[i + 2 :]
        if out != word:
            return out
    return word


def typo_variant(text: str, rng: random.Random) -> str | None:
    """The query with one random edit in one of its Latin or Cyrillic words of 5+ letters."""
    words = text.split(" ")
    eligible = [
        (n, letters)
        for n, w in enumerate(words)
        if len(w) >= TYPO_MIN_LETTERS and w.isalpha() and (letters := _alphabet(w.lower()))
    ]
    if not eligible:
        return None
    n, letters = rng.choice(eligible)
    words[n] = _misspell(words[n], letters, rng)
    return " ".join(words)


@dataclass(frozen=True)
class TypingCase:
    """A dev query and what a user may have typed of it: cut short, or with one typo."""

    query: EvalQuery
    prefix: str | None
    typo: str | None


def typing_cases(dev: DevSet, seed: int = 0) -> list[TypingCase]:
    """Prefix and typo variants of every dev query; each query seeds its own generator."""
    cases = []
    for q in dev.queries:
        rng = random.Random(f"{seed}:{q.locale}:{q.text}")
        cases.append(TypingCase(q, prefix_variant(q.text), typo_variant(q.text, rng)))
    return cases


@dataclass
class TypingResult:
    """NDCG@10 of prefix and typo variants and their ratio to the full queries' NDCG@10."""

    per_locale: dict[str, dict[str, float]]
    overall: dict[str, float]
    latencies_ms: list[float]
    embedding_hit_rate: float

    def to_json(self) -> dict[str, Any]:
        """JSON-ready summary."""
        return {
            "track": "typing",
            "overall": self.overall,
            "per_locale": self.per_locale,
            "latency_ms": latency_summary(self.latencies_ms),
            "embedding_cache_hit_rate": round(self.embedding_hit_rate, 4),
        }


def _ratios(rows: Sequence[dict[str, float]]) -> dict[str, float]:
    out: dict[str, float] = {}
    for kind in ("prefix", "typo"):
        pairs = [(r["full"], r[kind]) for r in rows if kind in r]
        full = statistics.fmean(f for f, _ in pairs) if pairs else 0.0
        variant = statistics.fmean(v for _, v in pairs) if pairs else 0.0
        out |= {
            f"{kind}_queries": float(len(pairs)),
            f"{kind}_full_ndcg@10": round(full, 4),
            f"{kind}_ndcg@10": round(variant, 4),
            f"{kind}_ratio": round(variant / full, 4) if full > 0 else 0.0,
        }
    return out


def typing_track(
    svc: SearchService,
    dev: DevSet,
    seed: int = 0,
    progress: Callable[[int, int], None] | None = None,
) -> TypingResult:
    """Search each dev query, its prefix and its typo variant (in the lexicon library)."""
    if not any(p.name == "eval-lexicon" for p in svc.library.packs()):
        lexicon_track(svc, dev)
    rows: dict[str, list[dict[str, float]]] = defaultdict(list)
    latencies: list[float] = []

    def ndcg_of(q: EvalQuery, text: str) -> float:
        start = time.perf_counter()
        page = svc.search(SearchQuery(user="eval:typing", text=text, limit=K))
        latencies.append((time.perf_counter() - start) * 1000)
        return score_query(dev, q, [h.file for h in page.hits])["ndcg@10"]

    hits, misses = svc.query_vectors.hits, svc.query_vectors.misses
    for n, case in enumerate(typing_cases(dev, seed), 1):
        row = {"full": ndcg_of(case.query, case.query.text)}
        for kind, text in (("prefix", case.prefix), ("typo", case.typo)):
            if text is not None:
                row[kind] = ndcg_of(case.query, text)
        rows[case.query.locale].append(row)
        if progress and n % 50 == 0:
            progress(50, len(dev.queries))
    looked_up = svc.query_vectors.hits - hits + svc.query_vectors.misses - misses
    rate = (svc.query_vectors.hits - hits) / looked_up if looked_up else 0.0
    every = [r for locale_rows in rows.values() for r in locale_rows]
    per_locale = {loc: _ratios(locale_rows) for loc, locale_rows in sorted(rows.items())}
    return TypingResult(per_locale, _ratios(every), latencies, rate)


def format_typing_table(result: TypingResult) -> str:
    """Prefix and typo NDCG@10, absolute and as a share of the full queries' NDCG@10."""
    head = ("locale", "n", "full", "prefix", "ratio", "n", "full", "typo", "ratio")
    row = "{:7s} {:>5} {:>7} {:>7} {:>6} {:>5} {:>7} {:>7} {:>6}"
    lines = ["typing track: NDCG@10 of queries cut short / with one typo", row.format(*head)]
    for locale, m in [*result.per_locale.items(), ("all", result.overall)]:
        cells = [
            f"{m[f'{kind}_{metric}']:.{0 if metric == 'queries' else 4}f}"
            for kind in ("prefix", "typo")
            for metric in ("queries", "full_ndcg@10", "ndcg@10", "ratio")
        ]
        lines.append(row.format(locale, *cells))
    lat = latency_summary(result.latencies_ms)
    lines.append(
        f"typing latency ms: p50 {lat.get('p50')} p99 {lat.get('p99')}; "
        f"query-embedding cache hit rate {result.embedding_hit_rate:.1%}"
    )
    return "\n".join(lines)


def format_table(results: Sequence[TrackResult]) -> str:
    """A plain-text table: one row per track and locale."""
    lines = [
        f"{'track':10s} {'locale':7s} {'NDCG@10':>8s} {'MRR':>7s} {'Hit@1':>7s} {'Hit@10':>7s}"
    ]
    for r in results:
        rows = [*r.per_locale.items(), ("all", r.overall)]
        for locale, m in rows:
            lines.append(
                f"{r.name:10s} {locale:7s} {m['ndcg@10']:8.4f} {m['mrr']:7.4f} "
                f"{m['hit@1']:7.4f} {m['hit@10']:7.4f}"
            )
        lat = latency_summary(r.latencies_ms)
        lines.append(f"{r.name:10s} latency ms: p50 {lat.get('p50')} p99 {lat.get('p99')}")
    return "\n".join(lines)
