"""Searches are served from the last snapshot while an expensive rebuild runs behind them."""

import logging
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from engine.index import Snapshot
from engine.snapshots import SnapshotKeeper
from engine.types import PlatformHandle, SearchQuery
from tests.conftest import internals, lexical_library


@dataclass
class Library:
    """A fake of the two things the keeper reads: the revision, and a (slow) build."""

    revision: int = 1
    builds: list[int] = field(default_factory=list)
    gate: threading.Event = field(default_factory=threading.Event)
    fail: bool = False

    def build(self, _previous: Any = None) -> Any:
        self.gate.wait(5)
        if self.fail:
            raise RuntimeError("disk on fire")
        self.builds.append(self.revision)
        return _Snap(self.revision)


@dataclass(frozen=True)
class _Snap:
    revision: int


def keeper(lib: Library, sync_rebuild_s: float) -> SnapshotKeeper:
    return SnapshotKeeper(lib.build, lambda: lib.revision, sync_rebuild_s)


def _rev(snapshot: Snapshot) -> int:
    return snapshot.revision


def test_the_first_snapshot_is_built_at_once() -> None:
    lib = Library()
    lib.gate.set()
    assert _rev(keeper(lib, 0.0).latest()) == 1 and lib.builds == [1]


def test_cheap_rebuilds_are_waited_for() -> None:
    lib = Library()
    lib.gate.set()
    snapshots = keeper(lib, sync_rebuild_s=60.0)
    snapshots.latest()
    lib.revision = 2
    assert _rev(snapshots.latest()) == 2, "a change is visible to the very next search"


def test_expensive_rebuilds_run_behind_the_last_snapshot() -> None:
    lib = Library()
    lib.gate.set()
    snapshots = keeper(lib, sync_rebuild_s=0.0)
    snapshots.latest()
    lib.gate.clear()  # the next build blocks until released
    lib.revision = 2
    served = [_rev(snapshots.latest()) for _ in range(5)]
    assert served == [1] * 5, "searches never wait for the rebuild"
    lib.gate.set()
    snapshots.wait_for_background(5)
    assert _rev(snapshots.latest()) == 2
    assert lib.builds == [1, 2], "five searches started one rebuild"


def test_a_failed_background_rebuild_keeps_serving(caplog: pytest.LogCaptureFixture) -> None:
    lib = Library()
    lib.gate.set()
    snapshots = keeper(lib, sync_rebuild_s=0.0)
    snapshots.latest()
    lib.revision, lib.fail = 2, True
    with caplog.at_level(logging.ERROR):
        assert _rev(snapshots.latest()) == 1
        snapshots.wait_for_background(5)
    assert "background snapshot rebuild failed" in caplog.text
    assert _rev(snapshots.latest()) == 1
    lib.fail = False
    assert _rev(snapshots.fresh()) == 2, "writers rebuild in their own thread"


def test_through_the_facade_a_change_shows_once_rebuilt(tmp_path: Path) -> None:
    svc = lexical_library(tmp_path, ["🐱", "🐶"])
    try:
        core = internals(svc)
        core.snapshots._sync_rebuild_s = 0.0  # as in a large library
        cat = svc.search(SearchQuery("u", "cat")).hits[0]
        svc.platform("telegram").set_handle(cat.id, PlatformHandle("file-1", "u-1"))
        assert svc.search(SearchQuery("u", "cat", limit=1)).hits[0].telegram_file_id is None
        core.snapshots.wait_for_background(30)
        hit = svc.search(SearchQuery("u2", "cat", limit=1)).hits[0]
        assert hit.telegram_file_id == "file-1"
    finally:
        svc.close()


def test_a_replaced_snapshot_is_freed_though_snapshots_are_frozen_out_of_gc(
    tmp_path: Path,
) -> None:
    """Snapshots are left out of the cyclic collector: each must be acyclic, freed by refcount."""
    import gc
    import weakref

    from PIL import Image

    from engine.ingest import ImportItem
    from tests.conftest import encode

    with lexical_library(tmp_path, ["😀", "🐱", "😢"]) as svc:
        core = internals(svc)
        svc.search(SearchQuery("u:1", "cat"))
        old = weakref.ref(core.snapshot())
        frozen = gc.get_freeze_count()
        gc.disable()  # only reference counting may free it
        try:
            png = encode(Image.new("RGBA", (9, 9), (1, 2, 3, 255)), "PNG")
            svc.library.import_items([ImportItem("new.png", lambda: png, emoji="🐶")], "q")
            svc.search(SearchQuery("u:1", "dog"))
            core.snapshots.wait_for_background(10)
            assert core.snapshot() is not old()
            assert old() is None
        finally:
            gc.enable()
        assert gc.get_freeze_count() > frozen  # the new snapshot was frozen
