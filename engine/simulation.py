"""Simulated users for the personalization and crowd tracks of `stickerbot eval` (DESIGN.md 2.5).

Labels (`hexcode`, `style`) decide what simulated users pick and how results are scored; the
engine itself never sees them. Every random choice comes from a seeded generator.
"""

import random
import statistics
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from engine.evaluation import DevSet, EvalQuery, K, ndcg, score_query
from engine.service import SearchService
from engine.types import SearchQuery

Progress = Callable[[int, int], None]


@dataclass(frozen=True)
class Catalog:
    """Dev labels joined to the library's sticker ids."""

    id_by_hash: dict[str, int]
    rows_by_emoji: dict[str, list[dict[str, str]]]  # hexcode -> rows (one per style)
    style_by_file: dict[str, str]
    styles: tuple[str, ...]

    def sticker(self, dev: DevSet, row: dict[str, str]) -> int:
        """The library id of a manifest row's image."""
        return self.id_by_hash[dev.hash_by_file[row["file"]]]


def catalog(svc: SearchService, dev: DevSet) -> Catalog:
    """Index the dev rows by emoji and style, and map them to sticker ids."""
    id_by_hash = {s.content_hash: s.id for s in svc.library.stickers()}
    rows_by_emoji: dict[str, list[dict[str, str]]] = defaultdict(list)
    for row in dev.rows:
        rows_by_emoji[row["hexcode"]].append(row)
    styles = tuple(sorted({r["style"] for r in dev.rows}))
    return Catalog(
        id_by_hash, dict(rows_by_emoji), {r["file"]: r["style"] for r in dev.rows}, styles
    )


def split_emoji(dev: DevSet, seed: int) -> tuple[set[str], set[str]]:
    """Two disjoint halves of the emoji: histories come from one, queries from the other."""
    hexcodes = sorted({r["hexcode"] for r in dev.rows})
    random.Random(seed).shuffle(hexcodes)
    half = len(hexcodes) // 2
    return set(hexcodes[:half]), set(hexcodes[half:])


@dataclass
class PersonalizationResult:
    """Metrics of one history size for personalized, global and oracle-filtered ranking."""

    history: int
    users: int
    queries: int
    metrics: dict[str, dict[str, float]]

    def to_json(self) -> dict[str, object]:
        """JSON-ready summary."""
        return {
            "history": self.history,
            "users": self.users,
            "queries": self.queries,
            **self.metrics,
        }


def _history(
    rng: random.Random, cat: Catalog, pool: list[str], style: str, size: int, off_style: float
) -> list[dict[str, str]]:
    rows = []
    for hexcode in rng.sample(pool, min(size, len(pool))):
        candidates = cat.rows_by_emoji[hexcode]
        preferred = [r for r in candidates if r["style"] == style]
        others = [r for r in candidates if r["style"] != style]
        rows.append(
            rng.choice(others if others and rng.random() < off_style else preferred or candidates)
        )
    return rows


def _graded(
    cat: Catalog, dev: DevSet, q: EvalQuery, files: Sequence[str], style: str
) -> dict[str, float]:
    gains = [
        (2.0 if cat.style_by_file.get(f) == style else 1.0)
        if dev.labels_by_file.get(f, frozenset()) & q.relevant
        else 0.0
        for f in files
    ]
    ideal = [
        2.0 if r["style"] == style else 1.0
        for h in q.relevant
        for r in cat.rows_by_emoji.get(h, [])
    ]
    top = files[:1]
    return {
        "graded_ndcg@10": ndcg(gains, ideal),
        "hit@1_preferred": float(bool(top) and gains[0] == 2.0),
        "style_share@10": sum(cat.style_by_file.get(f) == style for f in files[:K])
        / max(1, len(files[:K])),
        "ndcg@10": score_query(dev, q, files)["ndcg@10"],
    }


def eval_queries(dev: DevSet, query_half: set[str]) -> list[EvalQuery]:
    """Queries whose every relevant emoji lies in the query half: no history shares them."""
    return [q for q in dev.queries if q.relevant and q.relevant <= query_half]


def personalization_track(
    svc: SearchService,
    dev: DevSet,
    history_sizes: Sequence[int] = (3, 10, 30),
    users_per_style: int = 10,
    queries_per_user: int = 20,
    off_style: float = 0.1,
    seed: int = 0,
    progress: Progress | None = None,
) -> list[PersonalizationResult]:
    """Simulated users who each prefer one style; compare with global and oracle ranking."""
    cat = catalog(svc, dev)
    history_half, query_half = split_emoji(dev, seed)
    pool = sorted(h for h in history_half if h in cat.rows_by_emoji)
    queries = eval_queries(dev, query_half)
    global_lists: dict[str, Ranked] = {}
    results = []
    for size in history_sizes:
        rows = _run_size(
            svc,
            dev,
            cat,
            pool,
            queries,
            size,
            users_per_style,
            queries_per_user,
            off_style,
            seed,
            global_lists,
        )
        results.append(
            PersonalizationResult(
                size, users_per_style * len(cat.styles), len(rows["personalized"]), _summary(rows)
            )
        )
        if progress:
            progress(1, len(history_sizes))
    return results


Ranked = list[tuple[str, float]]


def _global(svc: SearchService, text: str, cache: dict[str, Ranked]) -> Ranked:
    if text not in cache:
        hits = svc.search(SearchQuery("eval:global", text, limit=50)).hits
        cache[text] = [(h.file, h.score) for h in hits]
    return cache[text]


def _oracle_boost(cat: Catalog, ranked: Ranked, style: str, beta: float) -> list[str]:
    """The personalized rule with the true style label (1 or 0) in place of the learned affinity."""
    boosted = [(score * (1 + beta * (cat.style_by_file.get(f) == style)), f) for f, score in ranked]
    return [f for _, f in sorted(boosted, key=lambda t: -t[0])][:K]


def _run_size(
    svc: SearchService,
    dev: DevSet,
    cat: Catalog,
    pool: list[str],
    queries: list[EvalQuery],
    size: int,
    users_per_style: int,
    queries_per_user: int,
    off_style: float,
    seed: int,
    global_lists: dict[str, Ranked],
) -> dict[str, list[dict[str, float]]]:
    rng = random.Random(f"{seed}:{size}")
    beta = svc.settings.personalization.beta
    rows: dict[str, list[dict[str, float]]] = defaultdict(list)
    users = [
        (f"eval:s{seed}:h{size}:{style}:{n}", style)
        for style in cat.styles
        for n in range(users_per_style)
    ]
    for user, style in users:
        svc.users.forget(user)  # reruns on the same library start from the same histories
        for row in _history(rng, cat, pool, style, size, off_style if size >= 10 else 0.0):
            svc.users.record(user, cat.sticker(dev, row), "sent", platform="eval")
    svc.crowd.update_profiles([u for u, _ in users])
    for user, style in users:
        for q in rng.sample(queries, min(queries_per_user, len(queries))):
            mine = [h.file for h in svc.search(SearchQuery(user, q.text, limit=K)).hits]
            base = _global(svc, q.text, global_lists)
            files = [f for f, _ in base]
            rows["personalized"].append(_graded(cat, dev, q, mine, style))
            rows["global"].append(_graded(cat, dev, q, files[:K], style))
            boosted = _oracle_boost(cat, base, style, beta)
            rows["oracle_boost"].append(_graded(cat, dev, q, boosted, style))
            filtered = [f for f in files if cat.style_by_file.get(f) == style][:K]
            rows["oracle_filter"].append(_graded(cat, dev, q, filtered, style))
    return rows


def _summary(rows: dict[str, list[dict[str, float]]]) -> dict[str, dict[str, float]]:
    return {
        system: {m: round(statistics.fmean(r[m] for r in rs), 4) for m in rs[0]}
        for system, rs in rows.items()
        if rs
    }


@dataclass
class CrowdResult:
    """NDCG@10 for users without history after a number of simulated picks."""

    picks: int
    ndcg: float
    popular_ndcg: float
    learned_stickers: int

    def to_json(self) -> dict[str, object]:
        """JSON-ready summary."""
        return self.__dict__.copy()


def _zipf_weights(n: int, s: float = 1.1) -> list[float]:
    return [1.0 / (rank + 1) ** s for rank in range(n)]


def crowd_track(
    svc: SearchService,
    dev: DevSet,
    checkpoints: Sequence[int] = (0, 100, 1000, 5000),
    simulated_users: int = 300,
    seed: int = 0,
    progress: Progress | None = None,
) -> list[CrowdResult]:
    """Users pick relevant stickers for Zipf-popular queries; new users search after each batch."""
    cat = catalog(svc, dev)
    rng = random.Random(f"crowd:{seed}")
    queries = list(dev.queries)
    rng.shuffle(queries)  # the popularity order
    weights = _zipf_weights(len(queries))
    popular = queries[:100]
    done, results = 0, []
    for target in checkpoints:
        for _ in range(target - done):
            q = rng.choices(queries, weights)[0]
            _pick(svc, dev, cat, rng, q, f"eval:crowd:{rng.randrange(simulated_users)}")
        done = target
        learned = svc.crowd.update_history_queries()
        svc.crowd.update_utility()
        svc.library.refresh()  # learned queries reach the dense index, as the index job does
        results.append(
            CrowdResult(
                target, _mean_ndcg(svc, dev, queries), _mean_ndcg(svc, dev, popular), learned
            )
        )
        if progress:
            progress(1, len(checkpoints))
    return results


def _pick(
    svc: SearchService, dev: DevSet, cat: Catalog, rng: random.Random, q: EvalQuery, user: str
) -> None:
    # Users agree on favourites: the relevant emoji and styles are themselves Zipf-popular.
    relevant = sorted(q.relevant & cat.rows_by_emoji.keys())
    if not relevant:
        return
    hexcode = rng.choices(relevant, _zipf_weights(len(relevant)))[0]
    rows = cat.rows_by_emoji[hexcode]
    row = rng.choices(rows, _zipf_weights(len(rows)))[0]
    svc.users.record(user, cat.sticker(dev, row), "chosen", q.text, platform="eval")


def _mean_ndcg(svc: SearchService, dev: DevSet, queries: Sequence[EvalQuery]) -> float:
    scores = [
        score_query(
            dev, q, [h.file for h in svc.search(SearchQuery("eval:newcomer", q.text, limit=K)).hits]
        )["ndcg@10"]
        for q in queries
    ]
    return round(statistics.fmean(scores), 4) if scores else 0.0
