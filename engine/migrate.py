"""Bring a library's database to the newest schema revision: once, by whoever opens it first."""

import fcntl
import functools
import logging
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from alembic.operations import Operations
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.engine import Connection, Engine

from engine.migrations.baseline import baseline_metadata

log = logging.getLogger(__name__)
MIGRATIONS = Path(__file__).parent / "migrations"
BASELINE = "0001"
VERSION_TABLE = "alembic_version"
# One fixed key: every stickerbot process migrating a PostgreSQL database queues on it.
ADVISORY_KEY = zlib.crc32(b"stickerbot.migrate")


def alembic_config(connection: Connection | None = None) -> Config:
    """Alembic's config for the packaged migrations, no alembic.ini needed."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    if connection is not None:
        config.attributes["connection"] = connection  # env.py migrates this connection
    return config


@functools.cache
def head_revision() -> str:
    """The newest revision the package ships."""
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    assert head is not None, "the package ships no migrations"
    return head


def current_revision(connection: Connection) -> str | None:
    """The revision the database is at (None: never migrated)."""
    return MigrationContext.configure(connection).get_current_revision()


def upgrade_schema(engine: Engine) -> None:
    """Migrate the database to the head revision; a no-op when it is there already."""
    sqlite = engine.dialect.name == "sqlite"
    with _file_lock(engine), engine.connect() as connection:
        if sqlite:
            # Batch mode rebuilds a table by dropping it: with foreign keys on, that drop would
            # cascade into the rows referencing it. PRAGMA must come outside a transaction.
            connection.exec_driver_sql("PRAGMA foreign_keys=OFF")
            connection.commit()
        try:
            with connection.begin():
                if engine.dialect.name == "postgresql":
                    # Released at commit: a second process waits here, then finds nothing to do.
                    connection.execute(
                        sa.text("SELECT pg_advisory_xact_lock(:key)"), {"key": ADVISORY_KEY}
                    )
                _upgrade(connection)
        finally:
            if sqlite:
                connection.invalidate()  # its foreign keys are off: never hand it out again


def _upgrade(connection: Connection) -> None:
    if current_revision(connection) == head_revision():
        return
    tables = set(sa.inspect(connection).get_table_names())
    if VERSION_TABLE not in tables and tables & set(baseline_metadata().tables):
        log.info("the library predates migrations: bringing it to the baseline revision")
        bridge_to_baseline(connection)
        command.stamp(alembic_config(connection), BASELINE)
    log.info("migrating the library database to revision %s", head_revision())
    command.upgrade(alembic_config(connection), "head")


def bridge_to_baseline(connection: Connection) -> None:
    """Make a library created before migrations (by `create_all`) match the baseline exactly.

    What the old additive upgrade did, once: create missing tables and indexes, add missing
    columns; then fill the NOT NULL ones it (or the old code) added with their defaults and
    make them NOT NULL, as the baseline has them.
    """
    baseline = baseline_metadata()
    baseline.create_all(connection, checkfirst=True)
    ops = Operations(MigrationContext.configure(connection))
    found = sa.inspect(connection)
    for table in baseline.sorted_tables:
        have = {c["name"]: c for c in found.get_columns(table.name)}
        for column in table.columns:
            if column.name not in have:
                ops.add_column(table.name, sa.Column(column.name, column.type, nullable=True))
        loose = [
            c
            for c in table.columns
            if not c.nullable
            and not c.primary_key
            and (c.name not in have or have[c.name]["nullable"])
        ]
        _tighten(connection, ops, table, loose)
        for index in table.indexes:
            index.create(connection, checkfirst=True)


def _tighten(
    connection: Connection, ops: Operations, table: sa.Table, columns: list[sa.Column[Any]]
) -> None:
    """Fill NULLs with each column's default, then make the column NOT NULL."""
    fillable = [c for c in columns if _fill(connection, table, c)]
    if not fillable:
        return
    # copy_from: on SQLite the table is rebuilt from the baseline's definition, not reflected.
    with ops.batch_alter_table(table.name, copy_from=table) as batch:
        for column in fillable:
            batch.alter_column(column.name, existing_type=column.type, nullable=False)


def _fill(connection: Connection, table: sa.Table, column: sa.Column[Any]) -> bool:
    """Give NULL cells the column's default; False when some stay NULL (no default)."""
    default = column.default
    if isinstance(default, sa.ColumnDefault) and default.arg is not None:
        value = default.arg(None) if default.is_callable else default.arg
        connection.execute(table.update().where(column.is_(None)).values({column.name: value}))
        return True
    nulls = connection.scalar(sa.select(sa.func.count()).where(column.is_(None)))
    if nulls:
        log.warning(
            "%s.%s has %d NULLs and no default: left nullable", table.name, column.name, nulls
        )
    return not nulls


@contextmanager
def _file_lock(engine: Engine) -> Iterator[None]:
    """On a SQLite file, an exclusive lock beside it while migrating (processes sharing it)."""
    path = engine.url.database
    if engine.dialect.name != "sqlite" or not path or path == ":memory:":
        yield
        return
    with open(f"{path}.migrate-lock", "a", encoding="utf-8") as fh:
        fcntl.flock(fh.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh.fileno(), fcntl.LOCK_UN)
