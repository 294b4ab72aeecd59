"""Keeping the in-memory search snapshot current without making searches wait for rebuilds.

Every library change bumps a revision. Writers (imports, annotation, profile jobs) ask for a
fresh snapshot and pay for the rebuild in their own thread. A search takes the latest snapshot
at once: when the library moved on (another process wrote, or a writer has not rebuilt yet) it
starts one background rebuild and is served from the last good snapshot meanwhile. Only
rebuilds measured cheaper than `sync_rebuild_s` are waited for, so that small libraries (and
tests) see every change at once while large ones never stall an inline query.
"""

import logging
import threading
import time
from collections.abc import Callable

from engine.index import Snapshot

log = logging.getLogger(__name__)


class SnapshotKeeper:
    """Builds snapshots with `build` for the revisions `revision` reports."""

    def __init__(
        self,
        build: Callable[[], Snapshot],
        revision: Callable[[], int],
        sync_rebuild_s: float,
    ) -> None:
        self._build = build
        self._revision = revision
        self._sync_rebuild_s = sync_rebuild_s
        self._current: Snapshot | None = None
        self._lock = threading.Lock()  # one build at a time
        self._background: threading.Thread | None = None
        self.last_build_s = 0.0

    def fresh(self) -> Snapshot:
        """The snapshot of the current revision, built now if the library changed."""
        with self._lock:
            current = self._current
            if current is None or current.revision != self._revision():
                started = time.perf_counter()
                current = self._current = self._build()
                self.last_build_s = time.perf_counter() - started
                log.debug("snapshot r%d built in %.2fs", current.revision, self.last_build_s)
            return current

    def latest(self) -> Snapshot:
        """The newest snapshot there is, without waiting for an expensive rebuild."""
        current = self._current
        if current is None:
            return self.fresh()  # nothing to serve yet
        if current.revision == self._revision():
            return current
        if self.last_build_s <= self._sync_rebuild_s:
            return self.fresh()
        self._rebuild_in_background()
        return current

    def wait_for_background(self, timeout: float | None = None) -> None:
        """Block until a background rebuild in progress (if any) has finished."""
        thread = self._background
        if thread is not None:
            thread.join(timeout)

    def _rebuild_in_background(self) -> None:
        if self._lock.locked() or (self._background and self._background.is_alive()):
            return  # a build is already on its way
        # A daemon: a rebuild only reads, so a shutdown may drop it at any point.
        thread = threading.Thread(target=self._build_quietly, name="snapshot", daemon=True)
        self._background = thread
        thread.start()

    def _build_quietly(self) -> None:
        try:
            self.fresh()
        except Exception:
            log.exception("background snapshot rebuild failed; searches keep the last one")
