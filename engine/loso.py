"""Leave-one-style-out personalization (DESIGN.md 2.3, 2.5): held-out figures only.

For each style S of the dev data, every variant (style blocks and weights, style space, rule,
pack weight, combination) is scored in a library of the other styles, by simulated users who
each prefer one of them; the variant with the best graded NDCG@10 there, among those that keep
relevance NDCG@10 at the unpersonalized level, is then scored by users who prefer S in the
library of all styles. Each variant's own held-out figures are the ablation. Nothing is chosen
on the fold it is scored on. The engine's ranking code does the work (`build_profile` and
`personalize` over the library's own recalled lists and style vectors); style labels only
simulate the users and score the results.
"""

import random
import statistics
from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
from PIL import Image
from threadpoolctl import threadpool_limits

from engine.evaluation import DevSet, EvalQuery, K, manifest_items, ndcg
from engine.ingest import ImportItem
from engine.personalize import HistoryItem, build_profile, personalize
from engine.recall import Candidate
from engine.service import SearchService
from engine.settings import PersonalizationSettings
from engine.simulation import catalog, eval_queries, split_emoji
from engine.styles import StyleMatrix
from engine.types import SearchQuery
from engine.understanding.style import make_style_embedder
from engine.understanding.style.efficientnet import (
    BLOCKS,
    EfficientNetLiteEmbedder,
    combine_blocks,
)
from engine.understanding.style.types import StyleEmbedder, StyleVectors

Metrics = dict[str, float]
PLAIN = "vector"  # the one block of an embedder without blocks (CLIP, pooled)
Progress = Callable[[int, int], None]
RELEVANCE_ERRORS = 2.0  # a chosen variant's relevance NDCG@10 may not be this many SE lower
# Nor lower by more than this on average: each wider tier gap stayed within two standard errors
# while relevance fell step by step (0.03 -> 0.24: -0.002 held out), so noise alone is no bound.
RELEVANCE_BUDGET = 0.001
USED_AT = datetime(2024, 1, 1, tzinfo=UTC)  # every simulated pick once, at one time: equal weights


@dataclass(frozen=True)
class Variant:
    """One way to personalize: the style vector's blocks and the ranking settings."""

    name: str
    cfg: PersonalizationSettings
    blocks: tuple[tuple[str, float], ...]  # (block, weight); ((PLAIN, 1),) for a plain embedder


@dataclass(frozen=True)
class Library:
    """A library's stickers as the engine sees them (emoji, pack), with the labels for scoring."""

    style: dict[int, str]
    file: dict[int, str]
    content: dict[int, str]  # content hash
    emoji: dict[int, str]
    pack: dict[int, str]
    by_emoji: dict[tuple[str, str], int]  # (hexcode, style) -> sticker id

    def ids(self, styles: Sequence[str]) -> list[int]:
        """Stickers of the given styles, by id."""
        return sorted(i for i, s in self.style.items() if s in styles)


@dataclass(frozen=True)
class SimUser:
    """A simulated user: the preferred style, the history, the queries."""

    style: str
    history: tuple[int, ...]
    queries: tuple[EvalQuery, ...]


@dataclass
class LosoFold:
    """One held-out style: the variant chosen without it, and the figures scored on it."""

    held_out: str
    chosen: str
    personalized: dict[int, Metrics]  # history size -> metrics of the chosen variant
    baseline: dict[int, Metrics]  # the same users and queries, unpersonalized


@dataclass
class LosoResult:
    """Every fold, the mean over folds, and each variant's held-out mean (the ablation)."""

    library: str
    sizes: tuple[int, ...]
    folds: list[LosoFold]
    variants: dict[str, dict[int, Metrics]] = field(default_factory=dict)
    # The same choice made on every style: what the configured default should be. A default
    # that differs from it is not the measured winner (this run's menu is built around it).
    chosen_on_all: str = ""

    def mean(self, system: str) -> dict[int, Metrics]:
        """Mean over folds of "personalized" (the nested choice) or "baseline"."""
        return {size: _mean([getattr(f, system)[size] for f in self.folds]) for size in self.sizes}

    def to_json(self) -> dict[str, object]:
        """JSON-ready summary."""
        return {
            "library": self.library,
            "folds": [f.__dict__ for f in self.folds],
            "mean": {"personalized": self.mean("personalized"), "baseline": self.mean("baseline")},
            "variants": self.variants,
            "chosen_on_all": self.chosen_on_all,
        }


def _mean(rows: Sequence[Metrics]) -> Metrics:
    return {m: round(statistics.fmean(r[m] for r in rows), 4) for m in rows[0]} if rows else {}


# --- what is compared ---------------------------------------------------------------------------


def variants(
    cfg: PersonalizationSettings, blocks: Mapping[str, float], packs: bool
) -> list[Variant]:
    """The configured default, then one change of each signal (and the alternatives to it)."""
    base = tuple(blocks.items())
    out = [Variant("default", cfg, base)]
    for name, update in _setting_changes(cfg, packs):
        out.append(Variant(name, cfg.model_copy(update=update), base))
    out += [Variant(name, cfg, tuple(b.items())) for name, b in _block_changes(blocks).items()]
    # A change that leaves the settings as configured would only repeat the default.
    seen: set[object] = set()
    unique = []
    for v in out:
        if (v.cfg, v.blocks) not in seen:
            seen.add((v.cfg, v.blocks))
            unique.append(v)
    return unique


def _setting_changes(
    cfg: PersonalizationSettings, packs: bool
) -> list[tuple[str, dict[str, object]]]:
    rules = [r for r in ("nearest", "similarity", "knn", "persrv") if r != cfg.rule]
    other = "multiply" if cfg.combine == "tiered" else "tiered"
    changes: list[tuple[str, dict[str, object]]] = [(f"rule={r}", {"rule": r}) for r in rules]
    changes.append((f"combine={other}", {"combine": other}))
    changes += [(f"beta={cfg.beta * f:g}", {"beta": cfg.beta * f}) for f in (0.5, 2.0)]
    if cfg.combine == "tiered":
        changes += [
            (f"tier_gap={cfg.tier_gap * f:g}", {"tier_gap": cfg.tier_gap * f}) for f in (0.5, 2.0)
        ]
    if packs:  # with one pack, neither the content space nor pack affinity has anything to use
        space = "centred" if cfg.style_space == "content" else "content"
        changes.append((f"space={space}", {"style_space": space}))
        changes.append(
            (f"content_prior={cfg.content_prior * 4:g}", {"content_prior": cfg.content_prior * 4})
        )
        weights = (
            (0.0, cfg.pack_weight / 3, cfg.pack_weight * 3) if cfg.pack_weight else (0.1, 0.3, 1.0)
        )
        changes += [(f"pack_weight={w:g}", {"pack_weight": w}) for w in weights]
        changes.append(("pack only (beta=0)", {"beta": 0.0}))
        centred = {"pack_weight": 0.0, "style_space": "centred"}
        changes.append(("pack_weight=0, space=centred", centred))
    return changes


def _block_changes(blocks: Mapping[str, float]) -> dict[str, dict[str, float]]:
    if set(blocks) - set(BLOCKS):
        return {}  # a plain embedder (CLIP, pooled): its vector is the only feature
    out = {f"without {name}": {b: w for b, w in blocks.items() if b != name} for name in blocks}
    out["equal block weights"] = dict.fromkeys(blocks, 1.0)
    return {name: b for name, b in out.items() if b}


# --- the library, its recalled lists and style blocks -------------------------------------------


def library_view(svc: SearchService, dev: DevSet) -> Library:
    """The library's stickers joined to the dev labels."""
    cat = catalog(svc, dev)
    row_by_hash = {dev.hash_by_file[r["file"]]: r for r in dev.rows}
    lib = Library({}, {}, {}, {}, {}, {})
    for s in svc.library.stickers():
        row = row_by_hash.get(s.content_hash)
        if row is not None:
            lib.style[s.id], lib.file[s.id] = row["style"], row["file"]
            lib.content[s.id], lib.emoji[s.id], lib.pack[s.id] = s.content_hash, s.emoji, s.pack
    for row in dev.rows:
        lib.by_emoji[(row["hexcode"], row["style"])] = cat.sticker(dev, row)
    return lib


def recalled(
    svc: SearchService, queries: Sequence[EvalQuery], depth: int
) -> dict[str, list[Candidate]]:
    """Each query's unpersonalized ranked list, as deep as personalization re-ranks."""
    out: dict[str, list[Candidate]] = {}
    for q in queries:
        ranked: list[Candidate] = []
        offset: int | None = 0
        while offset is not None and len(ranked) < depth:
            page = svc.search(SearchQuery("eval:global", q.text, limit=50, offset=offset))
            ranked += [Candidate(h.id, h.score) for h in page.hits]
            offset = page.next_offset
        out[q.text] = ranked[:depth]
    return out


def style_blocks(
    embedder: StyleEmbedder, dev: DevSet, cache: Path | None
) -> tuple[dict[str, int], dict[str, StyleVectors]]:
    """Every dev image's style blocks (or its one vector), computed once, cached by content.

    Returns the row of each content hash and the block matrices.
    """
    files = sorted({dev.hash_by_file[r["file"]]: r["file"] for r in dev.rows}.items())
    hashes = np.array([h for h, _ in files])
    target = cache / f"style-blocks-{_slug(embedder.name)}.npz" if cache else None
    if target is not None and target.exists():
        with np.load(target) as saved:
            if np.array_equal(saved["hashes"], hashes):
                blocks = {k: saved[k] for k in saved.files if k != "hashes"}
                return {h: n for n, h in enumerate(hashes)}, blocks
    images = [Image.open(dev.root / f).copy() for _, f in files]
    if isinstance(embedder, EfficientNetLiteEmbedder) and embedder.mode == "gram":
        blocks = embedder.embed_blocks(images)
    else:
        blocks = {PLAIN: embedder.embed(images)}
    if target is not None:
        target.parent.mkdir(parents=True, exist_ok=True)
        np.savez(target, hashes=hashes, **blocks)
    return {h: n for n, h in enumerate(hashes)}, blocks


def recipe_of(embedder: StyleEmbedder) -> dict[str, float]:
    """The block weights of the configured style vector ({PLAIN: 1} for a plain embedder)."""
    if isinstance(embedder, EfficientNetLiteEmbedder) and embedder.mode == "gram":
        return dict(embedder.weights)
    return {PLAIN: 1.0}


def _slug(name: str) -> str:
    return "".join(c if c.isalnum() or c in "-." else "_" for c in name)


# --- simulated users ----------------------------------------------------------------------------


def make_users(
    lib: Library,
    styles: Sequence[str],
    style: str,
    pool: Sequence[str],
    queries: Sequence[EvalQuery],
    size: int,
    count: tuple[int, int],
    off_style: float,
    seed: str,
) -> list[SimUser]:
    """`count` = (users, queries each); each pick is in another style with chance `off_style`."""
    rng = random.Random(seed)
    others = [s for s in styles if s != style]
    users = []
    for _ in range(count[0]):
        history = []
        for hexcode in rng.sample(list(pool), min(size, len(pool))):
            pick = rng.choice(others) if others and rng.random() < off_style else style
            if (hexcode, pick) in lib.by_emoji:
                history.append(lib.by_emoji[(hexcode, pick)])
        asked = tuple(rng.sample(list(queries), min(count[1], len(queries))))
        users.append(SimUser(style, tuple(history), asked))
    return users


# --- scoring ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Setting:
    """A library (some styles) with its style matrix per block recipe, and its users."""

    styles: tuple[str, ...]
    users: tuple[SimUser, ...]
    allowed: frozenset[int]
    size: int  # the history size of its users


class Scorer:
    """Scores variants on settings, caching style matrices per (recipe, library)."""

    def __init__(
        self,
        dev: DevSet,
        lib: Library,
        recall: dict[str, list[Candidate]],
        blocks: tuple[dict[str, int], dict[str, StyleVectors]],
    ) -> None:
        self.dev, self.lib, self.recall = dev, lib, recall
        self._row, self._blocks = blocks
        self._matrices: dict[tuple[object, ...], StyleMatrix] = {}

    def matrix(self, recipe: tuple[tuple[str, float], ...], styles: tuple[str, ...]) -> StyleMatrix:
        """The style matrix of a library of `styles` with vectors of `recipe`."""
        key = (recipe, styles)
        if key not in self._matrices:
            ids = [i for i in self.lib.ids(styles) if self.lib.content[i] in self._row]
            rows = [self._row[self.lib.content[i]] for i in ids]
            parts = {name: self._blocks[name][rows] for name, _ in recipe}
            vectors = combine_blocks(parts, dict(recipe))
            packs = {i: self.lib.pack[i] for i in ids}
            emoji = [self.lib.emoji[i] for i in ids]
            self._matrices[key] = StyleMatrix(ids, vectors, emoji=emoji, packs=packs)
        return self._matrices[key]

    def score(self, variant: Variant | None, setting: Setting) -> Metrics:
        """Mean metrics of the setting's users; `None` scores the unpersonalized lists."""
        return _mean(self.rows(variant, setting))

    def rows(self, variant: Variant | None, setting: Setting) -> list[Metrics]:
        """Metrics per (user, query), in a fixed order: paired across variants."""
        rows = []
        for user in setting.users:
            for q, top in zip(user.queries, self._rank(variant, setting, user), strict=True):
                rows.append(self.metrics(q, top, user.style, setting))
        return rows

    def _rank(self, variant: Variant | None, setting: Setting, user: SimUser) -> list[list[int]]:
        lists = [
            [c for c in self.recall[q.text] if c.sticker_id in setting.allowed]
            for q in user.queries
        ]
        if variant is not None:
            styles = self.matrix(variant.blocks, setting.styles)
            # Kept whole: thousands of rankings read the same small library's rows.
            styles.space(variant.cfg.style_space, variant.cfg.content_prior)
            items = [HistoryItem(i, 1, USED_AT) for i in user.history]
            profile = build_profile(items, styles, variant.cfg)
            lists = [personalize(ranked, profile, styles, variant.cfg) for ranked in lists]
        return [[c.sticker_id for c in ranked[:K]] for ranked in lists]

    def metrics(self, q: EvalQuery, top: Sequence[int], style: str, setting: Setting) -> Metrics:
        """Graded NDCG@10, Hit@1 of the preferred style, relevance NDCG@10 of one list."""
        relevant = [self._relevant(i, q) for i in top]
        gains = [
            (2.0 if self.lib.style[i] == style else 1.0) * r
            for i, r in zip(top, relevant, strict=True)
        ]
        pool = {
            self.lib.by_emoji[(h, s)]
            for h in q.relevant
            for s in setting.styles
            if (h, s) in self.lib.by_emoji
        }
        ideal = [2.0 if self.lib.style[i] == style else 1.0 for i in pool]
        return {
            "graded_ndcg@10": ndcg(gains, ideal),
            "hit@1_preferred": float(bool(gains) and gains[0] == 2.0),
            "ndcg@10": ndcg([float(r) for r in relevant], [1.0] * len(pool)),
        }

    def _relevant(self, sticker: int, q: EvalQuery) -> float:
        labels = self.dev.labels_by_file.get(self.lib.file[sticker], frozenset())
        return float(bool(labels & q.relevant))


# --- the protocol -------------------------------------------------------------------------------


@dataclass(frozen=True)
class LosoPlan:
    """Sizes and sample sizes of the protocol."""

    sizes: tuple[int, ...] = (3, 10, 30)
    users: int = 10  # users who prefer the held-out style, per fold and history size
    queries: int = 20  # queries per such user
    inner_users: int = 5  # users per training style when choosing
    inner_queries: int = 10
    off_style: float = 0.1
    seed: int = 0


def loso_track(
    svc: SearchService,
    dev: DevSet,
    name: str,
    plan: LosoPlan = LosoPlan(),
    cache: Path | None = None,
    progress: Progress | None = None,
) -> LosoResult:
    """Leave-one-style-out over the styles of `dev` in the library `svc` (see the module doc)."""
    lib = library_view(svc, dev)
    history_half, query_half = split_emoji(dev, plan.seed)
    queries = eval_queries(dev, query_half)
    settings = svc.settings
    embedder = make_style_embedder(settings.understanding.style)
    scorer = Scorer(
        dev,
        lib,
        recalled(svc, queries, settings.personalization.rerank_depth),
        style_blocks(embedder, dev, cache),
    )
    packs = len(set(lib.pack.values())) > 1
    menu = variants(settings.personalization, recipe_of(embedder), packs)
    styles = tuple(sorted(set(lib.style.values())))
    pool = sorted(history_half)
    result = LosoResult(name, plan.sizes, [])
    held_out: dict[str, dict[int, list[Metrics]]] = defaultdict(lambda: defaultdict(list))
    # Thousands of small products: one BLAS thread measured 3-10x faster than two on a busy
    # machine (the threads spin against each other and against other processes).
    with threadpool_limits(limits=1):
        for style in styles:
            fold, per_variant = _fold(scorer, lib, menu, styles, style, pool, queries, plan)
            result.folds.append(fold)
            for variant, by_size in per_variant.items():
                for size, metrics in by_size.items():
                    held_out[variant][size].append(metrics)
            if progress:
                progress(1, len(styles))
        result.chosen_on_all = _choose_on_all(scorer, lib, menu, styles, pool, queries, plan)
    result.variants = {v: {s: _mean(ms) for s, ms in by.items()} for v, by in held_out.items()}
    return result


def _choose_on_all(
    scorer: Scorer,
    lib: Library,
    menu: Sequence[Variant],
    styles: tuple[str, ...],
    pool: Sequence[str],
    queries: Sequence[EvalQuery],
    plan: LosoPlan,
) -> str:
    count = (plan.inner_users, plan.inner_queries)
    inner = [
        _setting(lib, styles, t, pool, queries, size, count, plan, "all")
        for t in styles
        for size in plan.sizes
    ]
    return choose(scorer, menu, inner).name


def _fold(
    scorer: Scorer,
    lib: Library,
    menu: Sequence[Variant],
    styles: tuple[str, ...],
    held: str,
    pool: Sequence[str],
    queries: Sequence[EvalQuery],
    plan: LosoPlan,
) -> tuple[LosoFold, dict[str, dict[int, Metrics]]]:
    train = tuple(s for s in styles if s != held)
    inner_count = (plan.inner_users, plan.inner_queries)
    inner = [
        _setting(lib, train, t, pool, queries, size, inner_count, plan, held)
        for t in train
        for size in plan.sizes
    ]
    chosen = choose(scorer, menu, inner)
    outer = {
        size: _setting(lib, styles, held, pool, queries, size, (plan.users, plan.queries), plan, "")
        for size in plan.sizes
    }
    per_variant = {v.name: {s: scorer.score(v, st) for s, st in outer.items()} for v in menu}
    baseline = {s: scorer.score(None, st) for s, st in outer.items()}
    fold = LosoFold(held, chosen.name, per_variant[chosen.name], baseline)
    return fold, per_variant


def _setting(
    lib: Library,
    styles: tuple[str, ...],
    style: str,
    pool: Sequence[str],
    queries: Sequence[EvalQuery],
    size: int,
    count: tuple[int, int],
    plan: LosoPlan,
    held: str,
) -> Setting:
    seed = f"{plan.seed}:{held}:{style}:{size}"
    users = make_users(lib, styles, style, pool, queries, size, count, plan.off_style, seed)
    return Setting(styles, tuple(users), frozenset(lib.ids(styles)), size)


def choose(scorer: Scorer, menu: Sequence[Variant], inner: Sequence[Setting]) -> Variant:
    """The variant with the best mean graded NDCG@10 on `inner` among those whose relevance
    NDCG@10 is not below the unpersonalized lists' at any history size, neither by more than
    two standard errors of the paired difference (a variant that reorders anything moves
    relevance a little either way) nor by more than RELEVANCE_BUDGET on average; if none
    qualifies, the one that loses the least."""
    sizes = sorted({s.size for s in inner})
    base = {n: _flat(scorer, None, [s for s in inner if s.size == n]) for n in sizes}
    rows = []
    for variant in menu:
        per_size = {n: _flat(scorer, variant, [s for s in inner if s.size == n]) for n in sizes}
        margin = min(
            min(
                _paired_margin(per_size[n], base[n]), RELEVANCE_BUDGET - _loss(per_size[n], base[n])
            )
            for n in sizes
        )
        graded = statistics.fmean(m["graded_ndcg@10"] for ms in per_size.values() for m in ms)
        rows.append((margin >= 0, graded, margin, variant))
    eligible = [r for r in rows if r[0]]
    if eligible:
        return max(eligible, key=lambda r: r[1])[3]
    return max(rows, key=lambda r: r[2])[3]


def _flat(scorer: Scorer, variant: Variant | None, settings: Sequence[Setting]) -> list[Metrics]:
    return [m for s in settings for m in scorer.rows(variant, s)]


def _loss(rows: Sequence[Metrics], base: Sequence[Metrics]) -> float:
    """Mean relevance NDCG@10 lost against the unpersonalized lists."""
    return statistics.fmean(b["ndcg@10"] - r["ndcg@10"] for r, b in zip(rows, base, strict=True))


def _paired_margin(rows: Sequence[Metrics], base: Sequence[Metrics]) -> float:
    """Mean relevance difference plus two standard errors (negative: significantly worse)."""
    diffs = [r["ndcg@10"] - b["ndcg@10"] for r, b in zip(rows, base, strict=True)]
    error = statistics.stdev(diffs) / len(diffs) ** 0.5 if len(diffs) > 1 else 0.0
    return statistics.fmean(diffs) + RELEVANCE_ERRORS * error


def import_pack_per_style(
    svc: SearchService, dev: DevSet, title: str, progress: Progress | None = None
) -> None:
    """Import each style of the manifest as a pack of its own (files and emoji only are read).

    The packs are named by number and share one title, so no label reaches the documents.
    """
    items = manifest_items(dev, True, svc.settings.ingest.max_file_bytes)
    by_style: dict[str, list[ImportItem]] = defaultdict(list)
    for row, item in zip(dev.rows, items, strict=True):
        by_style[row["style"]].append(item)
    existing = {p.name for p in svc.library.packs()}
    for n, style in enumerate(sorted(by_style), 1):
        if f"eval-pack-{n}" not in existing:
            svc.library.import_items(
                by_style[style], f"eval-pack-{n}", title=title, progress=progress
            )
