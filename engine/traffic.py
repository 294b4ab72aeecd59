"""Searches in flight, so that writes which hold the GIL can go between them.

Embedded Chroma's Rust bindings keep the GIL for a whole upsert or delete (they free it for
queries and gets only: chroma-core/chroma#3873): 256 vectors into a 1M-sticker collection
stalled every Python thread, searches included, for about 0.2 s, and an upsert that crosses
Chroma's sync threshold (every 1,000 records) for about 0.5 s more. Writers therefore cut their
work into slices of a few vectors while searches are being served, and start each slice in a
pause between searches, waiting at most a bounded time for one so that they never starve.
"""

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

RECENT_S = 1.0  # a search within this long means searches are being served


class SearchTraffic:
    """How many searches run now, and when the last one ended."""

    def __init__(self) -> None:
        self._running = 0
        self._last_end = -RECENT_S
        self._quiet = threading.Condition()

    @contextmanager
    def serving(self) -> Iterator[None]:
        """Count a search in flight for the duration of the block."""
        with self._quiet:
            self._running += 1
        try:
            yield
        finally:
            with self._quiet:
                self._running -= 1
                self._last_end = time.monotonic()
                if not self._running:
                    self._quiet.notify_all()

    def busy(self) -> bool:
        """Whether a search runs now or ended within the last second."""
        with self._quiet:
            return bool(self._running) or time.monotonic() - self._last_end < RECENT_S

    def pause(self, patience_s: float) -> bool:
        """Wait until no search runs, at most `patience_s`; True when one was found."""
        with self._quiet:
            return self._quiet.wait_for(lambda: not self._running, timeout=patience_s)
