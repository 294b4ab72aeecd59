"""Database engine, sessions and the library revision counter."""

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, event, select
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from engine.changes import record_unknown
from engine.migrate import upgrade_schema
from engine.schema import LibraryState

_REVISION = select(LibraryState.revision).where(LibraryState.id == 1)


def sqlite_url(data_dir: Path) -> str:
    """The default embedded database inside the data directory."""
    return f"sqlite:///{data_dir / 'library.sqlite3'}"


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    cursor = dbapi_conn.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


class Database:
    """Owns the SQLAlchemy engine; migrates the schema to the newest revision on open."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.engine: Engine = create_engine(url, pool_pre_ping=True)
        if self.engine.dialect.name == "sqlite":
            event.listen(self.engine, "connect", _sqlite_pragmas)
        upgrade_schema(self.engine)
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)
        self._ensure_state_row()

    @contextmanager
    def session(self) -> Iterator[Session]:
        """A session committed on success and rolled back on error."""
        with self._sessions() as session, session.begin():
            yield session

    def _ensure_state_row(self) -> None:
        try:
            with self.session() as s:
                if s.get(LibraryState, 1) is None:
                    s.add(LibraryState(id=1, revision=0))
        except IntegrityError:
            pass  # another process opening the same new library inserted it first

    def revision(self) -> int:
        """The current library revision."""
        # Read before every search: a plain connection costs a third of an ORM session.
        with self.engine.connect() as connection:
            return int(connection.execute(_REVISION).scalar() or 0)

    def bump_revision(self, session: Session) -> None:
        """Mark search indexes stale, inside the caller's transaction, without saying what changed.

        Snapshots then rebuild in full; writers that know what they touched record a
        `engine.changes.Change` instead.
        """
        record_unknown(session)

    def dispose(self) -> None:
        """Close pooled connections."""
        self.engine.dispose()
