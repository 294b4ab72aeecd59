"""Crowd utility and learned history queries change ranking as PerSRV intends."""

from collections.abc import Iterator
from pathlib import Path

import pytest

from engine.service import SearchService
from engine.types import SearchQuery, StickerUtility
from tests.conftest import lexical_library


@pytest.fixture
def svc(tmp_path: Path) -> Iterator[SearchService]:
    """Four stickers: two cats, a dog, one with no emoji (only crowd can describe it)."""
    with lexical_library(tmp_path, ["🐱", "🐱", "🐶", ""]) as service:
        yield service


def _ids(svc: SearchService, text: str, user: str = "reader") -> list[int]:
    return [h.id for h in svc.search(SearchQuery(user, text, limit=10)).hits]


def test_utility_counts_clicks_users_and_versatility(svc: SearchService) -> None:
    cat = _ids(svc, "cat")[0]
    for user, query in [
        ("a", "cat"),
        ("b", "cat"),
        ("a", "kitty"),
        ("b", "kitty"),
        ("c", "meow"),
        ("a", "cat"),
    ]:
        svc.users.record(user, cat, "chosen", query)
    svc.users.record("d", cat, "sent")  # sent, not chosen: no utility
    assert svc.crowd.update_utility() == 1
    assert list(svc.crowd.utility().values()) == [StickerUtility(6, 3, 2)]  # "meow" has one user


def test_one_user_cannot_inflate_a_sticker(svc: SearchService) -> None:
    dog = _ids(svc, "dog")[0]
    for n in range(20):
        svc.users.record("spammer", dog, "chosen", f"query {n}")
        svc.users.record("spammer", dog, "chosen", "cat")
    svc.crowd.update_utility()
    assert svc.crowd.update_history_queries() == 0
    assert [u.versatility for u in svc.crowd.utility().values()] == [0]
    assert dog not in _ids(svc, "cat")


def test_learned_queries_make_a_sticker_findable(svc: SearchService) -> None:
    blank = _all_ids(svc)[-1]  # the sticker imported without emoji
    assert blank not in _ids(svc, "monday mood")
    for user in ("a", "b"):
        svc.users.record(user, blank, "chosen", "Monday mood")
    assert svc.crowd.update_history_queries() == 1
    assert _ids(svc, "monday mood")[0] == blank


def test_utility_prior_reorders_equally_relevant_stickers(svc: SearchService) -> None:
    first, second = _ids(svc, "cat")[:2]
    for user in ("a", "b", "c"):
        for query in ("cat", "cute", "pet"):
            svc.users.record(user, second, "chosen", query)
    svc.crowd.update_utility()
    assert _ids(svc, "cat")[:2] == [second, first]


def _all_ids(svc: SearchService) -> list[int]:
    return [s.id for s in svc.library.stickers()]
