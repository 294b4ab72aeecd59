"""Alembic's environment: stickerbot hands in its own connection; the `alembic` CLI gives a URL.

At run time `engine.migrate` passes the library's connection in `config.attributes`, already
inside the transaction (and, on PostgreSQL, the advisory lock) it holds. A developer running
`alembic` from the repository names the database with `-x url=...` or STICKERBOT_DATABASE_URL.
"""

import os

from alembic import context
from sqlalchemy import create_engine, pool
from sqlalchemy.engine import Connection

from engine.schema import Base

URL_ENV = "STICKERBOT_DATABASE_URL"


def run_on(connection: Connection) -> None:
    """Run the pending revisions on `connection`."""
    context.configure(
        connection=connection,
        target_metadata=Base.metadata,
        # SQLite cannot alter most of a table in place: batch mode rebuilds it by copying.
        render_as_batch=connection.dialect.name == "sqlite",
    )
    with context.begin_transaction():
        context.run_migrations()


def database_url() -> str:
    """The database the `alembic` command line works on."""
    url = context.get_x_argument(as_dictionary=True).get("url") or os.environ.get(URL_ENV)
    if not url:
        raise SystemExit(
            f"name the database: alembic -x url=sqlite:////path/library.sqlite3 ... (or {URL_ENV})"
        )
    return url


def main() -> None:
    """Migrate the connection stickerbot gave, or the database the command line named."""
    given = context.config.attributes.get("connection")
    if given is not None:
        run_on(given)
        return
    if context.is_offline_mode():
        # The baseline creates its tables from a MetaData, which needs a live connection.
        raise SystemExit("offline (--sql) mode is not supported: run against a database")
    engine = create_engine(database_url(), poolclass=pool.NullPool)
    try:
        with engine.connect() as connection:
            run_on(connection)
            connection.commit()
    finally:
        engine.dispose()


main()
