"""The style scores that production ranking boosts by, on vectors whose answer is known."""

from datetime import UTC, datetime

import numpy as np
import pytest

from engine.imaging import unit_rows
from engine.personalize import HistoryItem, Profile, StyleMatrix, build_profile, style_scores
from engine.settings import PersonalizationSettings

NOW = datetime.now(UTC)


def matrix(*vectors: list[float], centre: bool = False) -> StyleMatrix:
    """A style matrix whose sticker ids are the row numbers."""
    return StyleMatrix(range(len(vectors)), np.array(vectors, dtype=np.float32), centre=centre)


def history(*ids: int) -> list[HistoryItem]:
    """Each id used once, just now: equal weights."""
    return [HistoryItem(i, 1, NOW) for i in ids]


def test_centring_removes_what_all_vectors_share() -> None:
    library = [[1, 0.1, 0], [1, -0.1, 0], [1, 0, 0.1], [1, 0, -0.1]]
    raw, moved = matrix(*library), matrix(*library, centre=True)
    assert float(raw.vectors[0] @ raw.vectors[1]) > 0.9
    assert float(moved.vectors[0] @ moved.vectors[1]) == pytest.approx(-1.0, abs=1e-5)
    assert np.allclose(np.linalg.norm(moved.vectors, axis=1), 1.0)


def test_similarity_is_the_weighted_mean_cosine_and_knn_the_top_k() -> None:
    styles = matrix([1, 0, 0], [0, 1, 0], [1, 0, 0], [1, 1, 0], [0, 0, 1])
    _, candidates = styles.rows([2, 3, 4])
    equal = Profile(((0, 1.0), (1, 1.0)))
    similarity = PersonalizationSettings(rule="similarity")
    assert np.allclose(style_scores(equal, candidates, styles, similarity), [0.5, 0.5**0.5, 0])
    weighted = Profile(((0, 3.0), (1, 1.0)))
    expected = [0.75, 0.5**0.5, 0.0]
    assert np.allclose(style_scores(weighted, candidates, styles, similarity), expected)
    for k, best in ((1, 1.0), (2, 0.5)):
        knn = PersonalizationSettings(rule="knn", knn_k=k)
        assert np.allclose(style_scores(equal, candidates, styles, knn), [best, 0.5**0.5, 0])


def test_persrv_clusters_cover_their_members() -> None:
    rng = np.random.default_rng(0)
    centres = np.array([[1, 0, 0, 0], [0, 0, 1, 0]], dtype=np.float32)
    members = unit_rows(np.repeat(centres, 5, axis=0) + 0.05 * rng.standard_normal((10, 4)))
    far = np.array([[0, 1, 0, 0], [0, 0, 0, 1]], dtype=np.float32)
    styles = matrix(*members.tolist(), *far.tolist())
    cfg = PersonalizationSettings(rule="persrv")
    profile = build_profile(history(*range(10)), styles, cfg)
    _, inside = styles.rows(list(range(10)))
    _, outside = styles.rows([10, 11])
    assert np.all(style_scores(profile, inside, styles, cfg) > 0.9)  # within their radius
    assert np.all(style_scores(profile, outside, styles, cfg) == 0.0)  # no boost


def test_persrv_cluster_count_follows_history_size() -> None:
    rng = np.random.default_rng(1)
    styles = matrix(*unit_rows(rng.standard_normal((40, 8))).tolist())
    cfg = PersonalizationSettings(rule="persrv")
    counts = [len(build_profile(history(*range(n)), styles, cfg).centroids) for n in (1, 3, 8, 30)]
    assert counts == [1, 1, 2, 5]  # one per kmeans_items_per_cluster items, at most kmeans_max_k
