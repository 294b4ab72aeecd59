"""The style scores that production ranking boosts by, on vectors whose answer is known."""

from datetime import UTC, datetime

import numpy as np
import pytest

from engine.imaging import unit_rows
from engine.personalize import HistoryItem, Profile, build_profile, style_scores
from engine.settings import PersonalizationSettings
from engine.styles import StyleMatrix

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


def test_nearest_keeps_a_noisy_history_in_its_style() -> None:
    # Nine picks in style A, one in style B; candidates: A, B and C (unrelated).
    a, b, c = [1.0, 0, 0], [0, 1.0, 0], [0, 0, 1.0]
    styles = matrix(*([a] * 9), b, a, b, c)
    profile = Profile(tuple((i, 1.0) for i in range(10)))
    _, candidates = styles.rows([10, 11, 12])
    cfg = PersonalizationSettings(rule="nearest")
    scores = style_scores(profile, candidates, styles, cfg)
    assert scores[0] == pytest.approx(1.0)  # the nearest half is all style A
    assert scores[1] == pytest.approx(0.2)  # the one B pick is outvoted within the nearest half
    assert scores[2] == pytest.approx(0.0)


def test_nearest_gives_a_two_style_user_both_styles() -> None:
    # Half the picks in A, half in B; C lies between them. The mean of the history is C itself,
    # so `similarity` ranks C first; the nearest half of the history is one style or the other.
    a, b, mid = [1.0, 0, 0], [0, 1.0, 0], [0.5**0.5, 0.5**0.5, 0]
    styles = matrix(*([a] * 5), *([b] * 5), a, b, mid)
    profile = Profile(tuple((i, 1.0) for i in range(10)))
    _, candidates = styles.rows([10, 11, 12])
    nearest = style_scores(profile, candidates, styles, PersonalizationSettings(rule="nearest"))
    mean = style_scores(profile, candidates, styles, PersonalizationSettings(rule="similarity"))
    assert nearest[0] == nearest[1] == pytest.approx(1.0) and nearest[2] < 0.71
    assert mean[2] > max(mean[0], mean[1])


def test_content_space_removes_what_other_packs_drawing_the_emoji_share() -> None:
    # Each vector = what is drawn (per emoji) + how (per style); the drawing dominates. Each
    # style is a pack of its own, as one artist's pack is in a real library.
    rng = np.random.default_rng(2)
    drawn, how = 3.0 * rng.standard_normal((6, 16)), rng.standard_normal((3, 16))
    rows = [(e, s) for e in range(6) for s in range(3)]
    vectors = unit_rows(np.array([drawn[e] + how[s] for e, s in rows]))
    packs = {n: f"p{s}" for n, (_, s) in enumerate(rows)}
    styles = StyleMatrix(range(len(rows)), vectors, emoji=[str(e) for e, _ in rows], packs=packs)

    def same_style_margin(cfg: PersonalizationSettings) -> float:
        _, x = styles.rows(list(range(len(rows))), cfg)
        sims = x @ x.T
        same = np.array([[a[1] == b[1] and a != b for b in rows] for a in rows])
        other = np.array([[a[1] != b[1] for b in rows] for a in rows])
        return float(sims[same].mean() - sims[other].mean())

    assert same_style_margin(PersonalizationSettings(style_space="content")) > 0.9
    assert same_style_margin(PersonalizationSettings(style_space="centred")) < 0.3


def test_an_emoji_of_one_pack_alone_keeps_its_look() -> None:
    # Within one pack (one artist), stickers sharing an emoji share the artist's look too:
    # nothing is subtracted, the content space is the centred space.
    vectors = unit_rows(np.array([[1.0, 0.2], [1.0, -0.2], [-1.0, 0.1], [-1.0, -0.1]]))
    packs = {0: "a", 1: "a", 2: "b", 3: "b"}
    styles = StyleMatrix(range(4), vectors, emoji=["x", "x", "y", "y"], packs=packs)
    _, content = styles.rows([0, 1, 2, 3], PersonalizationSettings(style_space="content"))
    _, centred = styles.rows([0, 1, 2, 3], PersonalizationSettings(style_space="centred"))
    np.testing.assert_allclose(content, centred)


def test_nearest_averages_a_short_history_whole() -> None:
    # Three picks: halving them would trust one or two stickers; nearest_min keeps all three.
    styles = matrix([1.0, 0], [1.0, 0], [0, 1.0], [1.0, 0], [0, 1.0])
    profile = Profile(((0, 1.0), (1, 1.0), (2, 1.0)))
    _, candidates = styles.rows([3, 4])
    nearest = PersonalizationSettings(rule="nearest")
    similarity = PersonalizationSettings(rule="similarity")
    expected = style_scores(profile, candidates, styles, similarity)
    assert style_scores(profile, candidates, styles, nearest) == pytest.approx(expected)
    halved = nearest.model_copy(update={"nearest_min": 1})
    assert style_scores(profile, candidates, styles, halved) == pytest.approx([1.0, 0.5])


def half(x: np.ndarray) -> np.ndarray:
    """float32 values that half precision holds exactly: the matrix's definitions, to float32."""
    return np.asarray(x, dtype=np.float32).astype(np.float16).astype(np.float32)


def _content_means_by_loop(
    x: np.ndarray, emoji: list[str], packs: list[str], prior: float
) -> np.ndarray:
    """The definition, group by group (the engine keeps running sums per group and emoji)."""
    from collections import defaultdict

    groups: dict[str, dict[str, list[int]]] = defaultdict(lambda: defaultdict(list))
    for n, (e, p) in enumerate(zip(emoji, packs, strict=True)):
        if e:
            groups[e][p].append(n)
    means = np.zeros_like(x)
    for by_pack in groups.values():
        if len(by_pack) < 2:
            continue
        pack_means = {p: x[rows].mean(axis=0) for p, rows in by_pack.items()}
        total = np.sum(list(pack_means.values()), axis=0)
        for p, rows in by_pack.items():
            means[rows] = (total - pack_means[p]) / (len(by_pack) - 1 + prior)
    return means


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_the_content_space_is_its_definition(seed: int) -> None:
    rng = np.random.default_rng(seed)
    n = 500
    raw = half(rng.normal(size=(n, 12)) + 3.0)
    emoji = [["", "a", "b", "c", "d"][k] for k in rng.integers(0, 5, n)]
    packs = [f"p{k}" for k in rng.integers(0, 7, n)]
    emoji[0], packs[0] = "only-one-pack", "p0"  # an emoji one pack alone has stays as is
    ids = rng.permutation(np.arange(1, 3 * n, 3))[:n].tolist()  # not in id order
    styles = StyleMatrix(ids, raw, emoji=emoji, packs=dict(zip(ids, packs, strict=True)))
    order = np.argsort(ids)
    x = (raw - raw.mean(axis=0))[order]
    sorted_emoji, sorted_packs = [emoji[k] for k in order], [packs[k] for k in order]
    assert styles.ids == sorted(ids)
    for prior in (0.0, 0.5, 3.0):
        means = _content_means_by_loop(x, sorted_emoji, sorted_packs, prior)
        expected = unit_rows(x - means)
        np.testing.assert_allclose(styles.space("content", prior), expected, atol=1e-5)
        cfg = PersonalizationSettings(style_space="content", content_prior=prior)
        found, rows = styles.rows([ids[0], 10**9, ids[7]], cfg)
        assert found == [ids[0], ids[7]]  # 10**9 has no vector
        np.testing.assert_allclose(rows, expected[np.searchsorted(sorted(ids), found)], atol=1e-5)
    np.testing.assert_allclose(styles.vectors, unit_rows(x), atol=1e-5)
    lone = int(np.searchsorted(sorted(ids), ids[0]))
    np.testing.assert_allclose(styles.space("content", 0.5)[lone], unit_rows(x[lone]), atol=1e-6)


def _changes(
    rng: np.random.Generator, rows: dict[int, tuple[np.ndarray, tuple[str, str]]]
) -> tuple:
    """A random style batch: new and re-embedded vectors, removals, moved stickers."""
    vectors, labels = {}, {}
    live = sorted(rows)
    for i in rng.choice(live, size=min(len(live), 6), replace=False).tolist():
        labels[i] = (str(rng.choice(["a", "b", "c", ""])), f"p{rng.integers(0, 4)}")  # moved
    for _ in range(int(rng.integers(0, 8))):
        i = int(rng.integers(1, 400))  # new or re-embedded
        vectors[i] = half(rng.normal(size=6) + 2.0)
        labels[i] = (str(rng.choice(["a", "b", "c"])), f"p{rng.integers(0, 4)}")
    removed = set(rng.choice(live, size=min(len(live), 3), replace=False).tolist())
    return vectors, removed - set(vectors), labels


@pytest.mark.parametrize("merge_min", [4096, 5])
def test_changed_styles_equal_a_matrix_built_afresh(
    merge_min: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    import engine.styles

    monkeypatch.setattr(engine.styles, "MERGE_MIN", merge_min)
    rng = np.random.default_rng(4)
    rows = {
        i: (half(rng.normal(size=6) + 2.0), (str(rng.choice(["a", "b"])), f"p{i % 3}"))
        for i in range(1, 60)
    }
    # From nothing: the first batch gives the vectors their length.
    empty = StyleMatrix([], np.zeros((0, 1), dtype=np.float32))
    first = {i: v for i, (v, _) in rows.items()}
    styles = empty.changed(first, set(), {i: lb for i, (_, lb) in rows.items()}, {})
    assert styles.ids == sorted(rows) and styles.dim == 6
    cfg = PersonalizationSettings(style_space="content", content_prior=0.5)
    for _ in range(40):
        vectors, removed, labels = _changes(rng, rows)
        for i, label in labels.items():
            if i in vectors:
                rows[i] = (vectors[i], label)
            elif i in rows:
                rows[i] = (rows[i][0], label)
        for i in removed:
            rows.pop(i, None)
        packs = {i: lb[1] for i, (_, lb) in rows.items()}
        styles = styles.changed(vectors, removed, labels, packs)
        ids = sorted(rows)
        fresh = StyleMatrix(
            ids, np.stack([rows[i][0] for i in ids]), emoji=[rows[i][1][0] for i in ids],
            packs=packs,
        )  # fmt: skip
        assert styles.ids == ids and len(styles) == len(ids)
        np.testing.assert_allclose(styles.mean, fresh.mean, atol=1e-5)
        probe = [*ids[::3], 999]
        for space in (cfg, None):
            got, want = styles.rows(probe, space), fresh.rows(probe, space)
            assert got[0] == want[0]
            np.testing.assert_allclose(got[1], want[1], atol=1e-4)
        vector = fresh.project(rng.normal(size=6).astype(np.float32))
        got_ids, sims = styles.similarities(vector)
        assert got_ids.tolist() == ids
        np.testing.assert_allclose(sims, fresh.vectors @ vector, atol=1e-4)


def test_a_new_pack_lookup_keeps_the_computed_spaces() -> None:
    rng = np.random.default_rng(3)
    styles = StyleMatrix([1, 2, 3], rng.normal(size=(3, 4)), emoji=["a", "a", "b"],
                         packs={1: "p", 2: "q", 3: "q"})  # fmt: skip
    content = styles.space("content", 0.5)
    grown = styles.with_packs({1: "p", 2: "q", 3: "q", 4: "new"})  # sticker 4: no vector yet
    assert grown.space("content", 0.5) is content  # not recomputed
    assert grown.packs[4] == "new" and 4 not in grown and 1 in grown
    assert 4 not in styles.packs


def test_rows_are_kept_in_half_precision_and_rank_as_full_precision_does() -> None:
    rng = np.random.default_rng(5)
    n, dim = 3000, 256
    # Unit vectors around a shared direction, as style embedders give them: centring cancels
    # most of each row, the worst case for rounding.
    common = unit_rows(rng.normal(size=dim))
    raw = unit_rows(common * 3 + rng.normal(size=(n, dim)) / np.sqrt(dim) * 2)
    emoji = [str(k) for k in rng.integers(0, 40, n)]
    packs = {i: f"p{k}" for i, k in enumerate(rng.integers(0, 30, n).tolist())}
    styles = StyleMatrix(range(n), raw, emoji=emoji, packs=packs)
    assert styles.stored.dtype == np.float16 and styles.stored.nbytes == n * dim * 2
    assert styles.raw.dtype == np.float32
    x = raw - raw.mean(axis=0)
    exact = unit_rows(x)
    np.testing.assert_allclose(styles.vectors, exact, atol=5e-4)
    probe = exact[7]
    ids, sims = styles.similarities(probe)
    np.testing.assert_allclose(sims, exact @ probe, atol=5e-4)
    top = np.argsort(-(exact @ probe))[:50]
    assert len(set(top.tolist()) & set(ids[np.argsort(-sims)[:50]].tolist())) >= 48
    cfg = PersonalizationSettings(style_space="content", content_prior=0.5)
    found, rows = styles.rows(list(range(0, n, 7)), cfg)
    means = _content_means_by_loop(x, emoji, [packs[i] for i in range(n)], 0.5)
    np.testing.assert_allclose(rows, unit_rows(x - means)[found], atol=1e-3)
