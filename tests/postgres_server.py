"""The throwaway PostgreSQL cluster of the storage tests: the one `stickerbot bench` starts too."""

from engine.pgserver import postgres_server, server_binaries

__all__ = ["postgres_server", "reset_database", "server_binaries"]


def reset_database(url: str) -> None:
    """Drop every table in the database, alembic_version included: the next open migrates anew."""
    from sqlalchemy import MetaData, create_engine

    engine = create_engine(url)
    try:
        tables = MetaData()
        tables.reflect(engine)
        tables.drop_all(engine)
    finally:
        engine.dispose()
