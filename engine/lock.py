"""The one-writer lock of an embedded library directory."""

import fcntl
import os
import sys
from pathlib import Path
from types import TracebackType
from typing import IO

from engine.errors import LibraryLockedError


class WriterLock:
    """An exclusive advisory lock on `data_dir/.writer.lock`, held for the process's lifetime.

    Two processes writing one embedded Chroma directory were seen to corrupt it, so a second
    opener fails fast with a message naming the holder instead.
    """

    def __init__(self, data_dir: Path) -> None:
        self.path = data_dir / ".writer.lock"
        self._fh: IO[str] | None = None

    def acquire(self) -> None:
        """Take the lock or raise `LibraryLockedError`."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fh = self.path.open("a+", encoding="utf-8")
        try:
            fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            fh.seek(0)
            holder = fh.read().strip() or "another process"
            fh.close()
            raise LibraryLockedError(
                f"The library in {self.path.parent} is in use by {holder}. Stop that process "
                'first, or run Chroma in server mode (vectors.mode = "server") to share a '
                "library between processes."
            ) from None
        fh.seek(0)
        fh.truncate()
        fh.write(f"pid {os.getpid()} ({' '.join(Path(a).name for a in sys.argv[:2])})")
        fh.flush()
        self._fh = fh

    def release(self) -> None:
        """Release the lock if held."""
        if self._fh is not None:
            fcntl.flock(self._fh.fileno(), fcntl.LOCK_UN)
            self._fh.close()
            self._fh = None

    def __enter__(self) -> "WriterLock":
        self.acquire()
        return self

    def __exit__(
        self, exc: type[BaseException] | None, val: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.release()
