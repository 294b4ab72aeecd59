"""Per-user style profiles and the personalized re-ranking of recalled candidates (PerSRV 2.3).

Style space: stored style vectors, minus the library mean (what every sticker shares), and by
default minus what other packs' stickers with the same emoji share (what is drawn, not how).
Rules: `nearest` (default) boosts by the mean cosine to the half of the history nearest the
candidate, so off-style picks barely count and a user with two styles gets both; `similarity`
by the recency-weighted mean cosine to the whole history; `knn` by the mean of the top `knn_k`;
`persrv` is the paper's (KMeans clusters with radii; boost only inside a radius).
Pack affinity: the share of the user's history in the candidate's pack, centred over the
candidates, weighted against the style signal by `pack_weight`.
Combination: `tiered` (default) lets the personal signal reorder only candidates whose recall
scores are within `tier_gap` of each other, so it never lifts a clearly less relevant sticker
above a more relevant one; `multiply` is PerSRV's `score * (1 + beta * signal)` over the head.
"""

import copy
import math
import threading
from collections import defaultdict
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

import numpy as np
import numpy.typing as npt
import scipy.sparse as sp
from sqlalchemy import func, select

from engine.imaging import unit_rows
from engine.recall import Candidate
from engine.schema import Interaction, UserProfile, utcnow
from engine.settings import PersonalizationSettings
from engine.storage import Database

Matrix = npt.NDArray[np.float32]
Scores = npt.NDArray[np.float64]


@dataclass(frozen=True)
class HistoryItem:
    """A sticker the user chose or sent, with how often and how recently."""

    sticker_id: int
    uses: int
    last_used: datetime


@dataclass(frozen=True)
class Profile:
    """A user's style profile: weighted history items and, for PerSRV, clusters."""

    history: tuple[tuple[int, float], ...]  # (sticker id, weight)
    centroids: tuple[tuple[float, ...], ...] = ()
    radii: tuple[float, ...] = ()


def emoji_key(emoji: str) -> str:
    """A sticker's emoji as a content group: variation selectors do not change what is drawn."""
    return emoji.replace("\ufe0f", "").strip()


class StyleMatrix:
    """Style embeddings of the library by sticker id, and the pack of every sticker.

    `emoji` (one per vector) lets the content space subtract what stickers with the same emoji
    share; `packs` (sticker id -> pack, vectors or not) feeds pack affinity. With `centre=False`
    every space is the raw vectors (for tests and measurements of raw features).
    """

    def __init__(
        self,
        ids: Sequence[int],
        vectors: Matrix,
        centre: bool = True,
        emoji: Sequence[str] | None = None,
        packs: Mapping[int, str] | None = None,
    ) -> None:
        self._row = {int(i): n for n, i in enumerate(ids)}
        self.raw = np.asarray(vectors, dtype=np.float32)  # an update centres afresh from these
        self._centre = centre and len(ids) > 1
        self._keep_centre = centre
        self.ids = [int(i) for i in ids]
        self.mean = (
            self.raw.mean(axis=0)
            if self._centre
            else np.zeros(self.raw.shape[1:], dtype=np.float32)
        )
        self._emoji = [emoji_key(e) for e in emoji] if emoji is not None else None
        self.packs: Mapping[int, str] = packs or {}
        self._spaces: dict[tuple[str, float], Matrix] = {}
        self._lock = threading.Lock()

    @property
    def vectors(self) -> Matrix:
        """The library-mean-centred unit vectors, in id order of construction."""
        return self.space("centred", 0.0)

    def project(self, vector: Matrix) -> Matrix:
        """A raw style vector in the centred space: centred like the library, unit length."""
        return unit_rows(np.asarray(vector, dtype=np.float32) - self.mean)

    def space(self, name: str, prior: float) -> Matrix:
        """Unit vectors of the named space ("centred" or "content"), computed once per space."""
        key = (name, prior) if self._centre and name == "content" and self._emoji else ("c", 0.0)
        with self._lock:
            if key not in self._spaces:
                self._spaces[key] = self._compute(key[0] == "content", prior)
            return self._spaces[key]

    def _compute(self, content: bool, prior: float) -> Matrix:
        if not self._centre:
            return unit_rows(self.raw)
        # Cosines between raw style features are all high (every sticker shares the library's
        # look); subtracting the library mean leaves what sets a style apart.
        x = self.raw - self.mean
        if content and self._emoji is not None:
            x = x - content_means(x, self._emoji, self._pack_list(), prior)
        return unit_rows(x)

    def _pack_list(self) -> list[str]:
        return [self.packs.get(i, "") for i in self.ids]

    def rows(
        self, ids: Sequence[int], cfg: PersonalizationSettings | None = None
    ) -> tuple[list[int], Matrix]:
        """The ids that have an embedding, and their vectors in the configured space."""
        matrix = self.space(cfg.style_space, cfg.content_prior) if cfg else self.vectors
        found = [i for i in ids if i in self._row]
        return found, matrix[[self._row[i] for i in found]]

    def __len__(self) -> int:
        return len(self._row)

    def __contains__(self, sticker_id: object) -> bool:
        return sticker_id in self._row

    def with_packs(self, packs: Mapping[int, str]) -> "StyleMatrix":
        """The same vectors and spaces, with another pack lookup (the same packs for its rows)."""
        other = copy.copy(self)
        other.packs = packs
        other._spaces = dict(self._spaces)
        other._lock = threading.Lock()
        return other

    def relabelled(self, emoji: Mapping[int, str], packs: Mapping[int, str]) -> "StyleMatrix":
        """The same vectors with the library's current emoji and packs (new stickers, moves)."""
        other = copy.copy(self)
        other._emoji = [emoji_key(emoji.get(i, "")) for i in self.ids]
        other.packs = packs
        # Only the content space reads emoji and packs: the centred one stays valid.
        other._spaces = {k: v for k, v in self._spaces.items() if k[0] != "content"}
        other._lock = threading.Lock()
        return other

    def updated(
        self,
        vectors: Mapping[int, Matrix],
        removed: Collection[int],
        emoji: Mapping[int, str],
        packs: Mapping[int, str],
    ) -> "StyleMatrix":
        """These embeddings with `vectors` set and `removed` dropped, rows in id order.

        `emoji` and `packs` describe the library as it is now (every sticker, vectors or not).
        """
        rows = {i: self.raw[n] for i, n in self._row.items() if i not in removed}
        rows.update((int(i), np.asarray(v, dtype=np.float32)) for i, v in vectors.items())
        ids = sorted(rows)
        if not ids:
            return StyleMatrix([], np.zeros((0, 1), dtype=np.float32), self._keep_centre, [], packs)
        labels = [emoji.get(i, "") for i in ids]
        matrix = np.stack([rows[i] for i in ids])
        return StyleMatrix(ids, matrix, self._keep_centre, labels, packs)


def content_means(
    x: npt.NDArray[np.float32], emoji: Sequence[str], packs: Sequence[str], prior: float
) -> npt.NDArray[np.float32]:
    """Per row, what other packs' stickers with its emoji share (the drawing, not the artist).

    The mean over the other packs of each pack's mean, shrunk towards zero by `prior` packs. A
    sticker's own pack never counts: in a real library a pack is one artist, so only other packs
    say what the emoji looks like whoever draws it; an emoji that one pack alone has stays as is.
    """
    # Grouped sums as sparse products (row -> (emoji, pack) group -> emoji): the per-group
    # Python loop this replaced took 2.6 s at 100k stickers, in the first search after a change.
    n = len(emoji)
    if n == 0:
        return np.zeros_like(x)
    e_names, e_code = np.unique(np.asarray(emoji, dtype=object), return_inverse=True)
    _, p_code = np.unique(np.asarray(packs, dtype=object), return_inverse=True)
    keys, group = np.unique(e_code * (int(p_code.max()) + 1) + p_code, return_inverse=True)
    group_emoji = keys // (int(p_code.max()) + 1)
    rows = sp.csr_array((np.ones(n, dtype=np.float32), (group, np.arange(n))), (len(keys), n))
    pack_means = (rows @ x) / np.bincount(group)[:, None].astype(np.float32)
    packs_of = np.bincount(group_emoji, minlength=len(e_names))
    by_emoji = sp.csr_array(
        (np.ones(len(keys), dtype=np.float32), (group_emoji, np.arange(len(keys)))),
        (len(e_names), len(keys)),
    )
    # Per (emoji, pack) group first, then one gather: groups are far fewer than rows.
    valid = (packs_of[group_emoji] >= 2) & (e_names[group_emoji] != "")
    others = (by_emoji @ pack_means)[group_emoji] - pack_means
    others /= np.where(valid, packs_of[group_emoji] - 1 + prior, 1.0).astype(np.float32)[:, None]
    others[~valid] = 0.0
    return np.asarray(others[group], dtype=x.dtype)


def history_weights(
    items: Sequence[HistoryItem], cfg: PersonalizationSettings, now: datetime | None = None
) -> list[tuple[int, float]]:
    """Weight = recency decay x (1 + log uses), newest first, at most `max_history` items."""
    now = now or datetime.now(UTC)
    ranked = sorted(items, key=lambda h: h.last_used, reverse=True)[: cfg.max_history]
    half_life = max(cfg.recency_half_life_days, 1e-6) * 86400.0
    return [
        (
            h.sticker_id,
            0.5 ** (max((now - _aware(h.last_used)).total_seconds(), 0.0) / half_life)
            * (1 + math.log(h.uses)),
        )
        for h in ranked
    ]


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def build_profile(
    items: Sequence[HistoryItem], styles: StyleMatrix, cfg: PersonalizationSettings, seed: int = 0
) -> Profile:
    """The profile of a history; PerSRV clusters are computed only for that rule."""
    weighted = history_weights(items, cfg)
    if cfg.rule != "persrv":
        return Profile(tuple(weighted))
    ids, vectors = styles.rows([i for i, _ in weighted], cfg)
    if not ids:
        return Profile(tuple(weighted))
    from sklearn.cluster import KMeans  # a second to import, for this rule alone

    k = max(1, min(cfg.kmeans_max_k, len(ids) // cfg.kmeans_items_per_cluster))
    km = KMeans(n_clusters=k, n_init=4, random_state=seed).fit(vectors)
    centroids = unit_rows(km.cluster_centers_)
    # Radii in float64, as `_persrv_scores` measures distances: in float32 the member that sets
    # a radius could fall just outside it and lose its boost.
    offsets = vectors.astype(np.float64) - centroids[km.labels_].astype(np.float64)
    dists = np.linalg.norm(offsets, axis=1)
    radii = [float(dists[km.labels_ == c].max(initial=0.0)) for c in range(k)]
    return Profile(tuple(weighted), tuple(tuple(map(float, c)) for c in centroids), tuple(radii))


def style_scores(
    profile: Profile, candidates: Matrix, styles: StyleMatrix, cfg: PersonalizationSettings
) -> Scores:
    """Per candidate, the style affinity in [-1, 1] used by the boost (0 = no boost)."""
    if cfg.rule == "persrv":
        return _persrv_scores(profile, candidates)
    ids, history = styles.rows([i for i, _ in profile.history], cfg)
    if not ids:
        return np.zeros(len(candidates))
    found = set(ids)
    weights = np.array([w for i, w in profile.history if i in found], dtype=np.float64)
    # float32 products: a quarter of float64's time, and cosines need no more precision.
    sims = (candidates @ history.T).astype(np.float64)
    if cfg.rule == "knn":
        top = np.sort(sims, axis=1)[:, -min(cfg.knn_k, sims.shape[1]) :]
        return np.asarray(top.mean(axis=1))
    if cfg.rule == "nearest":
        return _nearest_share(sims, weights, cfg.nearest_share, cfg.nearest_min)
    return np.asarray(sims @ weights / max(weights.sum(), 1e-12))


def _nearest_share(sims: Scores, weights: Scores, share: float, least: int) -> Scores:
    """Weighted mean cosine to the history items nearest each candidate: `share` of the
    weight, and at least `least` items (a short history is averaged whole, not halved).

    One off-style pick among ten is not among any candidate's nearest half unless the candidate
    is in that style, where it is outvoted; two styles each fill the nearest half of their own.
    """
    order = np.argsort(-sims, axis=1, kind="stable")
    ranked_sims = np.take_along_axis(sims, order, axis=1)
    ranked_weights = weights[order]
    before = np.cumsum(ranked_weights, axis=1) - ranked_weights
    taken = (before < share * weights.sum()) | (np.arange(sims.shape[1]) < least)
    kept = ranked_weights * taken
    return np.asarray((ranked_sims * kept).sum(axis=1) / np.maximum(kept.sum(axis=1), 1e-12))


def _persrv_scores(profile: Profile, candidates: Matrix) -> Scores:
    if not profile.centroids:
        return np.zeros(len(candidates))
    centroids = np.array(profile.centroids, dtype=np.float64)
    dists = np.linalg.norm(candidates[:, None, :].astype(np.float64) - centroids[None], axis=2)
    cos = candidates.astype(np.float64) @ centroids.T
    inside = dists <= np.array(profile.radii)[None, :] + 1e-9
    return np.asarray(np.where(inside, cos, 0.0).max(axis=1, initial=0.0))


def pack_affinity(profile: Profile, candidates: Sequence[int], packs: Mapping[int, str]) -> Scores:
    """Share of the user's history weight in each candidate's pack, minus its mean over them.

    Centred, so a library of one pack (or a user whose packs are not among the candidates) gets
    no pack signal at all.
    """
    total = sum(w for _, w in profile.history) or 1.0
    shares: dict[str, float] = defaultdict(float)
    for sticker_id, weight in profile.history:
        if sticker_id in packs:
            shares[packs[sticker_id]] += weight / total
    raw = np.array([shares.get(packs.get(i, ""), 0.0) for i in candidates], dtype=np.float64)
    return raw - raw.mean() if len(raw) else raw


def personal_signal(
    profile: Profile, candidates: Sequence[int], styles: StyleMatrix, cfg: PersonalizationSettings
) -> Scores:
    """Per candidate: beta x style affinity + pack_weight x pack affinity (0 = no change)."""
    signal = np.zeros(len(candidates))
    if len(styles) and cfg.beta:
        ids, vectors = styles.rows(candidates, cfg)
        affinity = dict(zip(ids, style_scores(profile, vectors, styles, cfg), strict=True))
        signal += cfg.beta * np.array([affinity.get(i, 0.0) for i in candidates])
    if cfg.pack_weight and styles.packs:
        signal += cfg.pack_weight * pack_affinity(profile, candidates, styles.packs)
    return signal


def personalize(
    ranked: list[Candidate],
    profile: Profile | None,
    styles: StyleMatrix,
    cfg: PersonalizationSettings,
) -> list[Candidate]:
    """Re-rank the head of a recalled list by the user's style and packs; others keep order."""
    if (
        profile is None
        or len(profile.history) < cfg.min_history
        or cfg.rule == "none"
        or not (len(styles) or styles.packs)
    ):
        return ranked
    head, tail = ranked[: cfg.rerank_depth], ranked[cfg.rerank_depth :]
    signal = personal_signal(profile, [c.sticker_id for c in head], styles, cfg)
    own = dict(profile.history)
    top_weight = max(own.values(), default=1.0)
    boosted = [
        Candidate(
            c.sticker_id,
            c.score * (1 + s) + cfg.own_use_weight * own.get(c.sticker_id, 0.0) / top_weight,
        )
        for c, s in zip(head, signal, strict=True)
    ]
    if cfg.combine == "multiply":
        return sorted(boosted, key=lambda c: (-c.score, c.sticker_id)) + tail
    tiers = relevance_tiers([c.score for c in head], cfg.tier_gap)
    order = sorted(
        range(len(head)), key=lambda n: (tiers[n], -boosted[n].score, head[n].sticker_id)
    )
    return [boosted[n] for n in order] + tail


def relevance_tiers(scores: Sequence[float], gap: float) -> list[int]:
    """Tier per candidate of a list sorted by recall score: a new tier starts where the score
    falls more than `gap` (relative) below the score that opened the current tier."""
    tiers, tier, opener = [], 0, scores[0] if scores else 0.0
    for score in scores:
        if score < opener - gap * abs(opener):
            tier, opener = tier + 1, score
        tiers.append(tier)
    return tiers


def load_history(db: Database, user: str) -> list[HistoryItem]:
    """The user's chosen and sent stickers with use counts and last use."""
    with db.session() as s:
        rows = s.execute(
            select(Interaction.sticker_id, func.count(), func.max(Interaction.created_at))
            .where(Interaction.user_key == user)
            .group_by(Interaction.sticker_id)
        ).all()
    return [HistoryItem(int(i), int(n), last) for i, n, last in rows]


def users_needing_profiles(db: Database) -> list[str]:
    """Users with interactions newer than their stored profile (or without one)."""
    with db.session() as s:
        latest = dict(
            s.execute(
                select(Interaction.user_key, func.max(Interaction.created_at)).group_by(
                    Interaction.user_key
                )
            ).all()
        )
        stored = dict(s.execute(select(UserProfile.user_key, UserProfile.updated_at)).all())
    return sorted(u for u, t in latest.items() if u not in stored or _aware(stored[u]) < _aware(t))


def save_profile(db: Database, user: str, profile: Profile, size: int) -> None:
    """Store a user's profile, keeping their settings (such as the NSFW opt-in)."""
    with db.session() as s:
        row = s.get(UserProfile, user) or UserProfile(user_key=user)
        row.history = [[i, w] for i, w in profile.history]
        row.centroids = [list(c) for c in profile.centroids]
        row.radii = list(profile.radii)
        row.history_size = size
        row.updated_at = utcnow()
        s.add(row)


def load_profile(db: Database, user: str) -> tuple[Profile | None, str]:
    """A user's stored profile and its version stamp (for cache keys)."""
    with db.session() as s:
        row = s.get(UserProfile, user)
        if row is None or not row.history:
            return None, ""
        history = tuple((int(i), float(w)) for i, w in row.history)
        centroids = tuple(tuple(c) for c in row.centroids)
        return Profile(history, centroids, tuple(row.radii)), row.updated_at.isoformat()
