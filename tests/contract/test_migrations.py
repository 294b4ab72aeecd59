"""Alembic migrations on SQLite and PostgreSQL: a new library, a pre-migration one, reopening.

The PostgreSQL runs use the session's cluster, reset before and after each test.
"""

import logging
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import create_engine, func, inspect, select, text
from sqlalchemy.engine import Engine

from engine.migrate import alembic_config, current_revision, head_revision
from engine.migrations.baseline import baseline_metadata
from engine.schema import (
    Annotation,
    Base,
    Interaction,
    LibraryState,
    Pack,
    Sticker,
    UserProfile,
    Utility,
)
from engine.storage import Database, sqlite_url
from tests.postgres_server import reset_database

DATABASES = [pytest.param("sqlite", id="sqlite"), pytest.param("postgresql", id="postgresql")]
# Tables and columns the first libraries lacked (added since, by create_all and the additive
# ALTER TABLE of the pre-migration code), and the table migrations added after the baseline.
LATER_TABLES = ("pack_proposals", "job_leases")
ADDED_BY_OLD_CODE = ("user_profiles", "history", "JSON")  # as _add_missing_columns did: NULL
NEVER_ADDED = (("packs", "space"), ("library_state", "text_model"))


@pytest.fixture(params=DATABASES)
def url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """An empty database."""
    if request.param == "sqlite":
        yield sqlite_url(tmp_path)
        return
    shared: str = request.getfixturevalue("postgres_url")
    reset_database(shared)
    yield shared
    reset_database(shared)


def differences(engine: Engine) -> list[Any]:
    """What autogenerate would change to make the database match the models."""
    with engine.connect() as conn:
        return list(compare_metadata(MigrationContext.configure(conn), Base.metadata))


def revision_of(engine: Engine) -> str | None:
    with engine.connect() as conn:
        return current_revision(conn)


def test_the_package_ships_one_line_of_revisions() -> None:
    script = ScriptDirectory.from_config(alembic_config())
    numbered = sorted(r.revision for r in script.walk_revisions())
    assert script.get_heads() == [head_revision()] == [numbered[-1]], "the newest is the head"
    assert numbered == [f"{n:04d}" for n in range(1, len(numbered) + 1)]


def test_a_new_library_is_made_by_the_migrations_and_matches_the_models(url: str) -> None:
    db = Database(url)
    try:
        assert revision_of(db.engine) == head_revision()
        assert differences(db.engine) == []
        assert db.revision() == 0
    finally:
        db.dispose()


def test_opening_twice_is_a_no_op(url: str, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    first = Database(url)
    with first.session() as s:
        s.add(Pack(source="local", name="kept", title="Kept"))
    first.dispose()
    assert any(r.getMessage().startswith("Running upgrade") for r in caplog.records)
    caplog.clear()
    second = Database(url)
    try:
        assert not [r for r in caplog.records if "upgrade" in r.getMessage()]
        assert not [r for r in caplog.records if r.name == "engine.migrate"]
        with second.session() as s:
            assert s.scalars(select(Pack.name)).all() == ["kept"]
        assert differences(second.engine) == []
    finally:
        second.dispose()


def make_pre_migration_library(url: str) -> None:
    """A library as the code before migrations left it: create_all, no alembic_version.

    Made before some tables and columns existed; one column was added later by the old
    additive upgrade (nullable, NULL in old rows).
    """
    engine = create_engine(url)
    # The frozen baseline, not today's models: a library made before migrations never had the
    # tables and columns that migrations added since.
    baseline = baseline_metadata()
    old = [t for name, t in baseline.tables.items() if name not in LATER_TABLES]
    baseline.create_all(engine, tables=old)
    table, column, kind = ADDED_BY_OLD_CODE
    with engine.begin() as conn:
        for name, gone in (*NEVER_ADDED, (table, column)):
            conn.execute(text(f"ALTER TABLE {name} DROP COLUMN {gone}"))
        conn.execute(text(f"ALTER TABLE {table} ADD COLUMN {column} {kind}"))
        _insert_old_rows(conn)
    engine.dispose()


def _insert_old_rows(conn: Any) -> None:
    when = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)
    rows = {
        "packs": [
            dict(id=1, source="local", name="cats", title="Cats", added_by="cli", nsfw=False,
                 added_at=when)
        ],
        "stickers": [
            dict(id=i, pack_id=1, content_hash=f"{i:064x}", format="png", emoji="🐱",
                 original_name=f"{i}.png", size_bytes=100, width=16, height=16, frame_count=1,
                 media_path=f"media/{i}.png", preview_path="", annotation_version=1,
                 text_index_hash="h", added_at=when)
            for i in (1, 2)
        ],
        "annotations": [
            dict(id=1, sticker_id=1, source="ocr", model="m", version="1",
                 fields='{"ocr": "meow"}', updated_at=when)
        ],
        "interactions": [
            dict(id=i, platform="telegram", user_key="tg:1", query="cat", sticker_id=i,
                 kind="chosen", chat_type="private", created_at=when)
            for i in (1, 2)
        ],
        "utility": [dict(sticker_id=1, clicks=3, unique_users=2, versatility=1, updated_at=when)],
        "user_profiles": [
            dict(user_key="tg:1", centroids="[]", radii="[]", history_size=2, nsfw_opt_in=True,
                 updated_at=when)
        ],
        "library_state": [dict(id=1, revision=7)],
    }  # fmt: skip
    for table, values in rows.items():
        for row in values:
            names = ", ".join(row)
            marks = ", ".join(f":{k}" for k in row)
            conn.execute(text(f"INSERT INTO {table} ({names}) VALUES ({marks})"), row)


def test_a_pre_migration_library_is_upgraded_in_place_losing_nothing(
    url: str, caplog: pytest.LogCaptureFixture
) -> None:
    make_pre_migration_library(url)
    caplog.set_level(logging.INFO, logger="engine.migrate")
    db = Database(url)
    try:
        assert any("predates migrations" in r.getMessage() for r in caplog.records)
        assert revision_of(db.engine) == head_revision()
        assert differences(db.engine) == [], "the bridged library is the baseline, then head"
        with db.session() as s:
            counts = {
                m.__tablename__: s.scalar(select(func.count()).select_from(m))
                for m in (Pack, Sticker, Annotation, Interaction, Utility, UserProfile)
            }
            assert counts == {
                "packs": 1,
                "stickers": 2,
                "annotations": 1,
                "interactions": 2,
                "utility": 1,
                "user_profiles": 1,
            }
            pack = s.scalars(select(Pack)).one()
            assert (pack.name, pack.title, pack.space) == ("cats", "Cats", None)
            assert s.scalars(select(Annotation.fields)).one() == {"ocr": "meow"}
            profile = s.get(UserProfile, "tg:1")
            assert profile is not None and profile.nsfw_opt_in
            assert profile.history == [], "the NULL the old upgrade left became the default"
            state = s.get(LibraryState, 1)
            assert state is not None and state.text_model is None
        assert db.revision() == 7
    finally:
        db.dispose()
    again = Database(url)  # and it is an ordinary library from now on
    assert again.revision() == 7
    again.dispose()


def test_foreign_keys_stay_on_after_migrating_sqlite(tmp_path: Path) -> None:
    db = Database(sqlite_url(tmp_path))
    try:
        with db.engine.connect() as conn:
            assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
    finally:
        db.dispose()


def test_every_revision_downgrades_and_upgrades_again(url: str) -> None:
    Database(url).dispose()
    engine = create_engine(url)
    try:
        with engine.begin() as conn:
            command.downgrade(alembic_config(conn), "base")
        assert set(inspect(engine).get_table_names()) == {"alembic_version"}
        with engine.begin() as conn:
            command.upgrade(alembic_config(conn), "head")
        assert differences(engine) == []
    finally:
        engine.dispose()


def test_processes_opening_a_new_postgresql_library_at_once_migrate_it_once(
    postgres_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    """Four openers race (threads stand in for processes: each has its own connections)."""
    reset_database(postgres_url)
    caplog.set_level(logging.INFO)
    start, errors = threading.Barrier(4), []

    def open_library() -> None:
        start.wait()
        try:
            Database(postgres_url).dispose()
        except Exception as exc:  # what the test is about: none may fail
            errors.append(exc)

    threads = [threading.Thread(target=open_library) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    try:
        assert not [t for t in threads if t.is_alive()], "an opener hangs (unserialised DDL)"
        assert errors == []
        ran = [r for r in caplog.records if r.getMessage().startswith("Running upgrade  -> 0001")]
        assert len(ran) == 1
        engine = create_engine(postgres_url)
        assert differences(engine) == []
        engine.dispose()
    finally:
        reset_database(postgres_url)
