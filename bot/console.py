"""Terminal output shared by the CLI's commands: progress bars and JSON lines."""

import json
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TextIO

from tqdm import tqdm

Advance = Callable[[int, int], None]  # (steps done since the last call, total)


class Bars:
    """tqdm bars on stderr, one after another: a stage's bar appears at its first step and
    closes the bar before it, so consecutive stages (importing, then indexing) never overlap.
    """

    def __init__(self) -> None:
        self._open: tqdm | None = None

    def stage(self, desc: str) -> Advance:
        """The (advance, total) callback the engine calls for one stage."""
        bar: tqdm | None = None

        def advance(step: int, total: int) -> None:
            nonlocal bar
            if bar is None:
                self.close()
                bar = self._open = tqdm(desc=desc, unit="sticker", file=sys.stderr)
            if bar.total != total:
                bar.total = total
                bar.refresh()
            bar.update(step)

        return advance

    def close(self) -> None:
        """Close the open bar, if any."""
        if self._open is not None:
            self._open.close()
            self._open = None


@contextmanager
def bars() -> Iterator[Bars]:
    """Progress bars for a block; the last one is closed however the block ends."""
    shown = Bars()
    try:
        yield shown
    finally:
        shown.close()


@contextmanager
def progress(desc: str) -> Iterator[Advance]:
    """One progress bar for the block: yields the (advance, total) callback."""
    with bars() as shown:
        yield shown.stage(desc)


def emit(obj: Any, out: TextIO | None = None) -> None:
    """One JSON document on its own line, flushed (JSONL for scripts)."""
    print(json.dumps(obj, ensure_ascii=False), file=out or sys.stdout, flush=True)
