"""Layered mappings: a base shared between versions plus what changed, as a plain dict."""

import random

import pytest

from engine import layered
from engine.layered import Layered


@pytest.mark.parametrize(("seed", "fold_min"), [(0, 4096), (1, 8), (2, 1)])
def test_every_version_reads_as_the_dict_it_stands_for(
    seed: int, fold_min: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(layered, "FOLD_MIN", fold_min)
    rng = random.Random(seed)
    want = {i: f"v{i}" for i in range(0, 200, 2)}
    current = Layered(dict(want))
    versions = [(current, dict(want))]
    layers = set()
    for step in range(150):
        keys = rng.sample(range(260), rng.randint(0, 12))  # old, new and unknown ids
        changed = {k: f"s{step}-{k}" for k in keys[: len(keys) // 2]}
        removed = keys[len(keys) // 3 :]  # overlaps `changed`: removal wins
        current = current.updated(changed, removed)
        want.update(changed)
        for k in removed:
            want.pop(k, None)
        versions.append((current, dict(want)))
        layers.add(current.layers)
    for version, expected in versions:  # later updates never touch an earlier version
        assert dict(version.items()) == expected and len(version) == len(expected)
        assert list(version) == list(dict.fromkeys(version))  # each id once
        for k in range(262):
            assert (k in version) == (k in expected)
            assert version.get(k) == expected.get(k)
            if k not in expected:
                with pytest.raises(KeyError):
                    version[k]
    assert layers == ({2} if fold_min == 4096 else {1, 2}), "small thresholds fold the changes"


def test_no_change_is_the_same_mapping() -> None:
    base = Layered({1: "a"})
    assert base.updated({}, []) is base
    assert base.updated({}, [5]) == {1: "a"}  # an unknown id removed: nothing to drop
