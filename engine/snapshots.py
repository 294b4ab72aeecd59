"""Keeping the in-memory search snapshot current without making searches wait for rebuilds.

Every library change bumps a revision. Writers (imports, annotation, profile jobs) ask for a
fresh snapshot and pay for the update in their own thread. A search takes the latest snapshot
at once: when the library moved on (another process wrote, or a writer has not updated yet) it
starts one background update and is served from the last good snapshot meanwhile. Only updates
estimated cheaper than `sync_rebuild_s` are waited for, so that small changes (and small
libraries, and tests) show at once while a large rebuild never stalls an inline query.

An update is given the snapshot it replaces, so it can apply only what changed. After each one,
`maintain` (merging index segments, saving the index) runs behind the searches.
"""

import gc
import logging
import threading
import time
from collections.abc import Callable

from engine.index import Snapshot

log = logging.getLogger(__name__)


class SnapshotKeeper:
    """Builds snapshots with `build(previous)` for the revisions `revision` reports.

    `estimate(current)` guesses in seconds what bringing `current` up to date costs (by default
    what the last build took); `maintain(current)` returns a better-kept equivalent or None.
    """

    def __init__(
        self,
        build: Callable[[Snapshot | None], Snapshot],
        revision: Callable[[], int],
        sync_rebuild_s: float,
        estimate: Callable[[Snapshot], float] | None = None,
        maintain: Callable[[Snapshot], Snapshot | None] | None = None,
    ) -> None:
        self.last_build_s = 0.0
        self._build = build
        self._revision = revision
        self._sync_rebuild_s = sync_rebuild_s
        self._estimate = estimate or (lambda _current: self.last_build_s)
        self._maintain = maintain
        self._current: Snapshot | None = None
        self._lock = threading.Lock()  # one build (or maintenance) at a time
        self._background: threading.Thread | None = None
        self._maintenance: threading.Thread | None = None

    def fresh(self) -> Snapshot:
        """The snapshot of the current revision, brought up to date now if the library changed."""
        with self._lock:
            current = self._current
            if current is None or current.revision != self._revision():
                started = time.perf_counter()
                current = self._current = self._build(current)
                _settle()
                self.last_build_s = time.perf_counter() - started
                log.debug("snapshot r%d built in %.3fs", current.revision, self.last_build_s)
                self._start_maintenance()
            return current

    def latest(self) -> Snapshot:
        """The newest snapshot there is, without waiting for an expensive update."""
        current = self._current
        if current is None:
            return self.fresh()  # nothing to serve yet
        if current.revision == self._revision():
            return current
        # A build or a merge in progress is never waited for: the last snapshot serves.
        if not self._lock.locked() and self._estimate(current) <= self._sync_rebuild_s:
            return self.fresh()
        self._rebuild_in_background()
        return current

    def wait_for_background(self, timeout: float | None = None) -> None:
        """Block until a background update and maintenance in progress (if any) have finished."""
        for attr in ("_background", "_maintenance"):
            thread = getattr(self, attr)
            if thread is not None:
                thread.join(timeout)

    def _rebuild_in_background(self) -> None:
        if self._background and self._background.is_alive():
            return  # an update is already on its way (it waits for a build in progress)
        # A daemon: an update only reads, so a shutdown may drop it at any point.
        thread = threading.Thread(target=self._build_quietly, name="snapshot", daemon=True)
        self._background = thread
        thread.start()

    def _build_quietly(self) -> None:
        try:
            self.fresh()
        except Exception:
            log.exception("background snapshot rebuild failed; searches keep the last one")

    def _start_maintenance(self) -> None:
        if self._maintain is None or (self._maintenance and self._maintenance.is_alive()):
            return
        thread = threading.Thread(target=self._maintain_quietly, name="snapshot-merge", daemon=True)
        self._maintenance = thread
        thread.start()

    def _maintain_quietly(self) -> None:
        assert self._maintain is not None
        try:
            with self._lock:
                current = self._current
                kept = self._maintain(current) if current is not None else None
                if kept is not None:
                    self._current = kept
                    _settle()
        except Exception:
            log.exception("snapshot maintenance failed; searches keep the last snapshot")


def _settle() -> None:
    """Leave the objects alive now (a new snapshot's) out of the cyclic collector's passes.

    A snapshot is hundreds of thousands of acyclic objects (documents, metadata) that live until
    the next one; reference counting frees them then. Left in the collector's oldest generation,
    each full pass walks all of them while holding the GIL: 238 ms at 100k stickers, a search
    stalled behind it (gc callbacks during the bench's novel stream).
    """
    gc.freeze()
