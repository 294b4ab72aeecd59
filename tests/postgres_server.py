"""A throwaway PostgreSQL cluster (Debian's `postgresql` package) for the storage tests."""

import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from tests.chroma_server import free_port

USER = "stickerbot"


def server_binaries() -> Path | None:
    """The newest installed PostgreSQL's bin directory, if any."""
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/pg_ctl"), key=lambda p: p.parts[-3])
    return found[-1].parent if found else None


def _as_owner(args: list[str]) -> list[str]:
    # initdb refuses to run as root: the package's `postgres` user owns the cluster then.
    if os.geteuid() == 0:
        return ["runuser", "-u", "postgres", "--", *args]
    return args


@contextmanager
def postgres_server() -> Iterator[str]:
    """Start a private cluster on a free local port; yield its SQLAlchemy URL; remove it after."""
    binaries = server_binaries()
    if binaries is None:
        raise FileNotFoundError("PostgreSQL is not installed (apt-get install postgresql)")
    # Directly under /tmp: the cluster's owner must reach it, and pytest's dirs are root's only.
    root = Path(tempfile.mkdtemp(prefix="stickerbot-pg-"))
    if os.geteuid() == 0:
        shutil.chown(root, "postgres", "postgres")
    data, port = root / "data", free_port()
    run = lambda *args: subprocess.run(_as_owner([str(a) for a in args]), check=True)  # noqa: E731
    run(binaries / "initdb", "-D", data, "-U", USER, "--auth=trust", "-E", "UTF8", "--no-sync")
    options = f"-p {port} -k {root} -c listen_addresses=127.0.0.1 -c fsync=off"
    run(binaries / "pg_ctl", "-D", data, "-o", options, "-l", root / "log", "-w", "start")
    try:
        run(binaries / "createdb", "-h", "127.0.0.1", "-p", port, "-U", USER, USER)
        yield f"postgresql+psycopg://{USER}@127.0.0.1:{port}/{USER}"
    finally:
        run(binaries / "pg_ctl", "-D", data, "-m", "immediate", "-w", "stop")
        shutil.rmtree(root, ignore_errors=True)
