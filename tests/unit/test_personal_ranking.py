"""How recall scores, style and pack affinity combine: known answers on hand-made candidates."""

import numpy as np
import pytest

from engine.personalize import Profile, pack_affinity, personalize, relevance_tiers
from engine.recall import Candidate
from engine.settings import PersonalizationSettings
from engine.styles import StyleMatrix

# Stickers 0-3: the user's history, all in pack "cats" and style A. Candidates 10-15.
A, B = [1.0, 0.0], [0.0, 1.0]
STYLE = {0: A, 1: A, 2: A, 3: A, 10: A, 11: B, 12: B, 13: A, 14: B, 15: A}
PACK = {0: "cats", 1: "cats", 2: "cats", 3: "cats", 10: "dogs", 11: "cats"}
PACK |= {12: "dogs", 13: "dogs", 14: "cats", 15: "cats"}
HISTORY = Profile(tuple((i, 1.0) for i in range(4)))


def styles() -> StyleMatrix:
    """Raw two-dimensional styles (no centring), every sticker in its pack."""
    ids = sorted(STYLE)
    vectors = np.array([STYLE[i] for i in ids], dtype=np.float32)
    return StyleMatrix(ids, vectors, centre=False, packs=PACK)


def ranked(*pairs: tuple[int, float]) -> list[Candidate]:
    """Candidates in recall order."""
    return [Candidate(i, s) for i, s in pairs]


def order(candidates: list[Candidate], cfg: PersonalizationSettings) -> list[int]:
    """The sticker ids after personalization."""
    return [c.sticker_id for c in personalize(candidates, HISTORY, styles(), cfg)]


def test_tiers_open_where_the_score_falls_by_more_than_the_gap() -> None:
    assert relevance_tiers([1.0, 0.95, 0.91, 0.85, 0.5, 0.48], 0.1) == [0, 0, 0, 1, 2, 2]
    assert relevance_tiers([], 0.1) == []


def test_style_reorders_equally_relevant_stickers() -> None:
    # 11 (style B) and 10 (style A) are the same emoji: equal recall scores.
    cfg = PersonalizationSettings(rule="similarity", pack_weight=0.0, own_use_weight=0.0)
    assert order(ranked((11, 1.0), (10, 1.0)), cfg) == [10, 11]


def test_the_boost_never_lifts_a_clearly_less_relevant_sticker() -> None:
    # 12 is relevant (score 1.0) in the other style; 13 matches the query worse (0.8) but is in
    # the user's style. PerSRV's multiplicative boost of up to (1 + beta) lifts 13 over 12.
    candidates = ranked((12, 1.0), (13, 0.8))
    tiered = PersonalizationSettings(rule="similarity", beta=0.3, pack_weight=0.0)
    multiply = tiered.model_copy(update={"combine": "multiply"})
    assert order(candidates, tiered) == [12, 13]
    assert order(candidates, multiply) == [13, 12]


def test_pack_affinity_puts_the_sent_pack_first_among_relevant_stickers() -> None:
    # Style says nothing (beta 0): 14 (cats) beats 12 (dogs) at the same score, yet 15 (cats,
    # less relevant) stays below the more relevant 12.
    cfg = PersonalizationSettings(beta=0.0, pack_weight=0.3, own_use_weight=0.0)
    assert order(ranked((12, 1.0), (14, 1.0), (15, 0.5)), cfg) == [14, 12, 15]


def test_pack_affinity_is_centred_and_empty_for_a_library_of_one_pack() -> None:
    shares = pack_affinity(HISTORY, [10, 11, 14], PACK)
    assert shares == pytest.approx([-2 / 3, 1 / 3, 1 / 3])
    assert pack_affinity(HISTORY, [10, 11], dict.fromkeys(PACK, "all")) == pytest.approx([0, 0])


def test_pack_affinity_works_without_style_vectors() -> None:
    no_vectors = StyleMatrix([], np.zeros((0, 2), dtype=np.float32), packs=PACK)
    cfg = PersonalizationSettings(pack_weight=0.3, own_use_weight=0.0)
    result = personalize(ranked((12, 1.0), (14, 1.0)), HISTORY, no_vectors, cfg)
    assert [c.sticker_id for c in result] == [14, 12]


def test_short_histories_keep_the_global_order() -> None:
    cfg = PersonalizationSettings(min_history=5)
    candidates = ranked((11, 1.0), (10, 1.0))
    assert personalize(candidates, HISTORY, styles(), cfg) == candidates
    assert personalize(candidates, None, styles(), cfg) == candidates
