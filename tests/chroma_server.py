"""The real Chroma server of the server-mode tests: the one `stickerbot bench` starts too."""

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from engine.chromaserver import chroma_server as serve


@contextmanager
def chroma_server(path: Path) -> Iterator[tuple[str, int]]:
    """Start `chroma run` over `path` on a free local port; yield (host, port) once it answers."""
    with serve(path) as server:
        yield server.host, server.port
