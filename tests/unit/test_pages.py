"""Paging rankings: how deep dense recall goes for a page, and how a deeper ranking continues."""

from engine.pages import Ranking, deepened, dense_k
from engine.recall import Candidate


def test_the_first_two_pages_ask_for_two_pages_of_neighbours() -> None:
    assert dense_k(250, 250, 50, 50) == (100, 250)
    assert dense_k(250, 250, 50, 100) == (100, 250)
    assert dense_k(250, 250, 50, 101) == (250, 250)


def test_hidden_stickers_widen_both_depths_up_to_four_pools() -> None:
    assert dense_k(290, 250, 50, 50) == (140, 290)  # 40 stickers of other spaces
    assert dense_k(5000, 250, 50, 50) == (1000, 1000)


def test_a_large_page_size_never_asks_past_the_pool() -> None:
    assert dense_k(250, 250, 200, 50) == (250, 250)


def test_a_ranking_is_too_shallow_past_its_depth_or_at_its_end() -> None:
    ranked = Ranking([Candidate(i, 1.0) for i in range(300)], depth=100)
    assert not ranked.too_shallow_for(100)
    assert ranked.too_shallow_for(101)
    short = Ranking([Candidate(i, 1.0) for i in range(80)], depth=100)
    assert not short.too_shallow_for(50) and short.too_shallow_for(80)
    assert not Ranking([Candidate(1, 1.0)]).too_shallow_for(10**6)


def test_a_deeper_ranking_continues_after_the_kept_candidates_without_repeats() -> None:
    shallow = Ranking([Candidate(i, 1.0 - i / 10) for i in (5, 3, 1, 7)], depth=4)
    deep = Ranking([Candidate(i, 1.0 - i / 10) for i in (1, 3, 9, 5, 8, 7)])
    joined = deepened(shallow, deep, 2)
    assert [c.sticker_id for c in joined.candidates] == [5, 3, 1, 9, 8, 7]
    assert joined.depth == 0
