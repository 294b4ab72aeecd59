"""WriterLock: one writer process per embedded library directory."""

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from engine.errors import LibraryLockedError, OperatorError, UserFacingError
from engine.lock import WriterLock

TRY_ACQUIRE = textwrap.dedent(
    """
    import sys
    from pathlib import Path
    from engine.errors import LibraryLockedError
    from engine.lock import WriterLock

    lock = WriterLock(Path(sys.argv[1]))
    try:
        lock.acquire()
    except LibraryLockedError as exc:
        print("LOCKED", exc)
        sys.exit(3)
    print("ACQUIRED")
    lock.release()
    """
)

HOLD = textwrap.dedent(
    """
    import sys
    from pathlib import Path
    from engine.lock import WriterLock

    lock = WriterLock(Path(sys.argv[1]))
    lock.acquire()
    print("HELD", flush=True)
    sys.stdin.read()  # hold until the parent closes stdin
    lock.release()
    """
)


def try_in_other_process(data_dir: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", TRY_ACQUIRE, str(data_dir)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_other_process_is_refused_and_told_our_pid(tmp_path: Path) -> None:
    lock = WriterLock(tmp_path / "lib")
    lock.acquire()
    try:
        result = try_in_other_process(tmp_path / "lib")
        assert result.returncode == 3, result.stderr
        assert result.stdout.startswith("LOCKED")
        assert f"pid {os.getpid()}" in result.stdout
    finally:
        lock.release()


def test_release_lets_another_process_acquire(tmp_path: Path) -> None:
    lock = WriterLock(tmp_path)
    lock.acquire()
    lock.release()
    result = try_in_other_process(tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.strip() == "ACQUIRED"


def test_lock_held_by_other_process(tmp_path: Path) -> None:
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD, str(tmp_path)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None
        assert holder.stdout.readline().strip() == "HELD"
        with pytest.raises(LibraryLockedError, match=f"pid {holder.pid}") as excinfo:
            WriterLock(tmp_path).acquire()
        # It names a path: for the operator's terminal and log, never for a chat.
        assert isinstance(excinfo.value, OperatorError)
        assert not isinstance(excinfo.value, UserFacingError)
        assert str(tmp_path) in str(excinfo.value)
    finally:
        assert holder.stdin is not None
        holder.stdin.close()
        holder.wait(timeout=60)
    assert holder.returncode == 0
    # The holder exited: the lock is free again and records the new holder.
    with WriterLock(tmp_path) as lock:
        assert lock.path.read_text(encoding="utf-8").startswith(f"pid {os.getpid()}")


def test_context_manager_releases(tmp_path: Path) -> None:
    with WriterLock(tmp_path):
        assert try_in_other_process(tmp_path).returncode == 3
    assert try_in_other_process(tmp_path).returncode == 0


def test_release_twice_is_harmless(tmp_path: Path) -> None:
    lock = WriterLock(tmp_path)
    lock.acquire()
    lock.release()
    lock.release()
    lock.acquire()
    assert try_in_other_process(tmp_path).returncode == 3
    lock.release()
    assert try_in_other_process(tmp_path).returncode == 0
