"""Terminal output shared by the CLI's commands: progress bars and JSON lines."""

import json
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TextIO

from tqdm import tqdm

Advance = Callable[[int, int], None]  # (steps done since the last call, total)


@contextmanager
def progress(desc: str) -> Iterator[Advance]:
    """A tqdm bar on stderr for the block; yields the (advance, total) callback the engine calls.

    The bar is closed however the block ends, so an error never leaves a half-drawn line.
    """
    bar = tqdm(desc=desc, unit="sticker", file=sys.stderr, dynamic_ncols=True, leave=True)

    def advance(step: int, total: int) -> None:
        if bar.total != total:
            bar.total = total
            bar.refresh()
        bar.update(step)

    try:
        yield advance
    finally:
        bar.close()


def emit(obj: Any, out: TextIO | None = None) -> None:
    """One JSON document on its own line, flushed (JSONL for scripts)."""
    print(json.dumps(obj, ensure_ascii=False), file=out or sys.stdout, flush=True)
