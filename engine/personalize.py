"""Per-user style profiles and the personalized re-ranking of recalled candidates (PerSRV 2.3).

Rules: `persrv` is the paper's (KMeans clusters over the history's style embeddings, a radius
per cluster, boost `score * (1 + beta * cos)` for candidates inside a radius, best cluster wins);
`similarity` boosts by the recency-weighted mean cosine to the history items instead, which
needs no radius gate and so also helps users with short histories.
"""

import math
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

import numpy as np
import numpy.typing as npt
from sklearn.cluster import KMeans
from sqlalchemy import func, select

from engine.imaging import unit_rows
from engine.recall import Candidate
from engine.schema import Interaction, UserProfile, utcnow
from engine.settings import PersonalizationSettings
from engine.storage import Database

Matrix = npt.NDArray[np.float32]


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


class StyleMatrix:
    """L2-normalised style embeddings of the library, addressable by sticker id."""

    def __init__(self, ids: Sequence[int], vectors: Matrix, centre: bool = True) -> None:
        self._row = {int(i): n for n, i in enumerate(ids)}
        self.ids = [int(i) for i in ids]
        matrix = np.asarray(vectors, dtype=np.float32)
        self.raw = matrix  # kept so that an update can centre the library afresh
        self._centre = centre
        self.mean = np.zeros(matrix.shape[1:], dtype=np.float32)
        if centre and len(ids) > 1:
            # Cosines between raw style features are all high (every sticker shares the library's
            # look); subtracting the library mean leaves what sets a style apart. Measured on the
            # dev data (scripts/measure_style.py): Hit@1 of the preferred style 0.895 -> 0.939.
            self.mean = matrix.mean(axis=0)
            matrix = matrix - self.mean
        self.vectors = unit_rows(matrix)

    def project(self, vector: Matrix) -> Matrix:
        """A raw style vector in this matrix's space: centred like the library, unit length."""
        return unit_rows(np.asarray(vector, dtype=np.float32) - self.mean)

    def rows(self, ids: Sequence[int]) -> tuple[list[int], Matrix]:
        """The ids that have an embedding, and their vectors."""
        found = [i for i in ids if i in self._row]
        return found, self.vectors[[self._row[i] for i in found]]

    def __len__(self) -> int:
        return len(self._row)

    def updated(self, vectors: Mapping[int, Matrix], removed: Collection[int]) -> "StyleMatrix":
        """These embeddings with `vectors` set and `removed` dropped, rows in id order."""
        if not vectors and not self._row.keys() & set(removed):
            return self
        rows = {i: self.raw[n] for i, n in self._row.items() if i not in removed}
        rows.update((int(i), np.asarray(v, dtype=np.float32)) for i, v in vectors.items())
        ids = sorted(rows)
        if not ids:
            return StyleMatrix([], np.zeros((0, 1), dtype=np.float32), self._centre)
        return StyleMatrix(ids, np.stack([rows[i] for i in ids]), self._centre)


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
    ids, vectors = styles.rows([i for i, _ in weighted])
    if not ids:
        return Profile(tuple(weighted))
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
) -> npt.NDArray[np.float64]:
    """Per candidate, the style affinity in [-1, 1] used by the boost (0 = no boost)."""
    if cfg.rule == "persrv":
        return _persrv_scores(profile, candidates)
    ids, history = styles.rows([i for i, _ in profile.history])
    if not ids:
        return np.zeros(len(candidates))
    weights = np.array([w for i, w in profile.history if i in set(ids)], dtype=np.float64)
    sims = candidates.astype(np.float64) @ history.T.astype(np.float64)
    if cfg.rule == "knn":
        top = np.sort(sims, axis=1)[:, -min(cfg.knn_k, sims.shape[1]) :]
        return np.asarray(top.mean(axis=1))
    return np.asarray(sims @ weights / max(weights.sum(), 1e-12))


def _persrv_scores(profile: Profile, candidates: Matrix) -> npt.NDArray[np.float64]:
    if not profile.centroids:
        return np.zeros(len(candidates))
    centroids = np.array(profile.centroids, dtype=np.float64)
    dists = np.linalg.norm(candidates[:, None, :].astype(np.float64) - centroids[None], axis=2)
    cos = candidates.astype(np.float64) @ centroids.T
    inside = dists <= np.array(profile.radii)[None, :] + 1e-9
    return np.asarray(np.where(inside, cos, 0.0).max(axis=1, initial=0.0))


def personalize(
    ranked: list[Candidate],
    profile: Profile | None,
    styles: StyleMatrix,
    cfg: PersonalizationSettings,
) -> list[Candidate]:
    """Re-rank the head of a recalled list by the user's style; others keep global order."""
    if (
        profile is None
        or len(profile.history) < cfg.min_history
        or cfg.rule == "none"
        or not len(styles)
    ):
        return ranked
    head, tail = ranked[: cfg.rerank_depth], ranked[cfg.rerank_depth :]
    ids, vectors = styles.rows([c.sticker_id for c in head])
    affinity = dict(zip(ids, style_scores(profile, vectors, styles, cfg), strict=True))
    own = dict(profile.history)
    top_weight = max(own.values(), default=1.0)
    boosted = [
        Candidate(
            c.sticker_id,
            c.score * (1 + cfg.beta * affinity.get(c.sticker_id, 0.0))
            + cfg.own_use_weight * own.get(c.sticker_id, 0.0) / top_weight,
        )
        for c in head
    ]
    return sorted(boosted, key=lambda c: (-c.score, c.sticker_id)) + tail


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
