"""TTLCache with an injected clock."""

import pytest

from engine.cache import TTLCache


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


def test_get_missing_is_none(clock: FakeClock) -> None:
    cache: TTLCache[str] = TTLCache(4, 10.0, clock)
    assert cache.get("nope") is None


def test_value_lives_until_ttl(clock: FakeClock) -> None:
    cache: TTLCache[str] = TTLCache(4, 10.0, clock)
    cache.put("a", "A")
    clock.advance(10.0)
    assert cache.get("a") == "A"
    clock.advance(0.001)
    assert cache.get("a") is None
    assert len(cache) == 0


def test_reading_does_not_extend_ttl(clock: FakeClock) -> None:
    cache: TTLCache[str] = TTLCache(4, 10.0, clock)
    cache.put("a", "A")
    clock.advance(6)
    assert cache.get("a") == "A"
    clock.advance(6)
    assert cache.get("a") is None


def test_put_refreshes_ttl(clock: FakeClock) -> None:
    cache: TTLCache[str] = TTLCache(4, 10.0, clock)
    cache.put("a", "old")
    clock.advance(8)
    cache.put("a", "new")
    clock.advance(8)
    assert cache.get("a") == "new"


def test_lru_eviction(clock: FakeClock) -> None:
    cache: TTLCache[int] = TTLCache(2, 100.0, clock)
    cache.put("a", 1)
    cache.put("b", 2)
    assert cache.get("a") == 1  # "b" is now least recently used
    cache.put("c", 3)
    assert len(cache) == 2
    assert cache.get("b") is None
    assert cache.get("a") == 1
    assert cache.get("c") == 3


def test_overwrite_does_not_grow(clock: FakeClock) -> None:
    cache: TTLCache[int] = TTLCache(2, 100.0, clock)
    cache.put("a", 1)
    cache.put("a", 2)
    cache.put("b", 3)
    assert len(cache) == 2
    assert cache.get("a") == 2


def test_tuple_keys_and_drop_where(clock: FakeClock) -> None:
    cache: TTLCache[str] = TTLCache(10, 100.0, clock)
    cache.put(("alice", ""), "recent")
    cache.put(("alice", "cat"), "cats")
    cache.put(("bob", ""), "bob recent")
    dropped = cache.drop_where(lambda k: isinstance(k, tuple) and k[0] == "alice")
    assert dropped == 2
    assert cache.get(("alice", "")) is None
    assert cache.get(("alice", "cat")) is None
    assert cache.get(("bob", "")) == "bob recent"


def test_drop_where_nothing_matches(clock: FakeClock) -> None:
    cache: TTLCache[int] = TTLCache(10, 100.0, clock)
    cache.put("a", 1)
    assert cache.drop_where(lambda k: k == "zzz") == 0
    assert cache.get("a") == 1
