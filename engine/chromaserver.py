"""A Chroma server (`chroma run`, from the chromadb package) over a directory: for the
server-mode tests and for `stickerbot bench`'s restart against a server."""

import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

from engine.pgserver import free_port

STARTUP_S = 60.0
STOP_S = 10.0


@dataclass(frozen=True)
class ChromaServer:
    """Where a started server listens, and its process id."""

    host: str
    port: int
    pid: int


def chroma_executable() -> Path | None:
    """The `chroma` command installed beside this Python, if any."""
    exe = Path(sys.executable).with_name("chroma")
    return exe if exe.exists() else None


@contextmanager
def chroma_server(path: Path, log_path: Path | None = None) -> Iterator[ChromaServer]:
    """Serve the Chroma data under `path` on a free local port until the context ends."""
    exe = chroma_executable()
    if exe is None:
        raise FileNotFoundError("the chroma command is missing (pip install chromadb)")
    port = free_port()
    args = [str(exe), "run", "--path", str(path), "--host", "127.0.0.1", "--port", str(port)]
    log = (log_path or path.parent / "chroma-server.log").open("w")
    proc = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT)
    try:
        _wait_until_up(proc, port)
        yield ChromaServer("127.0.0.1", port, proc.pid)
    finally:
        proc.terminate()
        try:
            proc.wait(STOP_S)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()


def _wait_until_up(proc: subprocess.Popen[bytes], port: int) -> None:
    deadline = time.monotonic() + STARTUP_S
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"chroma run exited with {proc.returncode}")
        try:
            if httpx.get(f"http://127.0.0.1:{port}/api/v2/heartbeat", timeout=1).is_success:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"chroma run did not answer within {STARTUP_S}s")
