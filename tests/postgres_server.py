"""The throwaway PostgreSQL cluster of the storage tests: the one `stickerbot bench` starts too."""

from engine.pgserver import postgres_server, server_binaries

__all__ = ["postgres_server", "server_binaries"]
