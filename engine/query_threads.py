"""How many OpenMP threads one query embedding gets: chosen by measuring, not guessing.

On an idle 2-core machine a query embeds in about half the time on two threads; beside a busy
core (an annotation job, another process) two threads are slower than one. Neither load
averages nor core counts say which holds now, so each thread count's speed is measured on the
queries themselves: the fastest one serves, and now and then another is tried so a change of
conditions (a job starting or ending) is noticed.
"""

import os
import random
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

MAX_QUERY_THREADS = 4
EXPLORE = 1 / 16  # share of lone queries that try another thread count
SMOOTHING = 0.2  # weight of the newest timing in each count's running mean
OVERHEAD_CHARS = 16  # a call costs something even for one character (prefix, special tokens)


class QueryThreads:
    """Threads for the next query: a fixed count, or the measured fastest for a lone query.

    A query embedded while another one is under way gets one thread: two OpenMP pools on the
    same cores slow each other down, and such timings would say nothing about a lone query.
    """

    def __init__(
        self, fixed: int | None, cores: int | None = None, rng: random.Random | None = None
    ) -> None:
        self._fixed = fixed
        self._counts = range(1, min(MAX_QUERY_THREADS, cores or os.cpu_count() or 1) + 1)
        self._rng = rng or random.Random(0)
        self._lock = threading.Lock()
        self._running = 0
        self._cost: dict[int, float] = {}  # threads -> running mean of ms per character

    def _choose(self) -> int:
        untried = [n for n in self._counts if n not in self._cost]
        if untried:
            return untried[0]
        if len(self._counts) > 1 and self._rng.random() < EXPLORE:
            return self._rng.choice(self._counts)
        return min(self._cost, key=self._cost.__getitem__)

    def expected(self) -> int:
        """Threads the next query would most likely get now (without exploring)."""
        with self._lock:
            if self._fixed:
                return self._fixed
            if self._running:
                return 1
            untried = [n for n in self._counts if n not in self._cost]
            if untried:
                return untried[0]
            return min(self._cost, key=self._cost.__getitem__)

    @contextmanager
    def claim(self, chars: int) -> Iterator[int]:
        """Threads for one query of `chars` characters, timed to inform the next choices."""
        with self._lock:
            self._running += 1
            alone = self._running == 1
            threads = self._fixed or (self._choose() if alone else 1)
        started = time.perf_counter()
        try:
            yield threads
        finally:
            took = (time.perf_counter() - started) * 1000
            with self._lock:
                self._running -= 1
                if alone and not self._fixed:
                    self.record(threads, took, chars)

    def record(self, threads: int, ms: float, chars: int) -> None:
        """Fold one lone query's time into the running mean of its thread count."""
        cost = ms / (chars + OVERHEAD_CHARS)
        old = self._cost.get(threads)
        self._cost[threads] = cost if old is None else old + SMOOTHING * (cost - old)
