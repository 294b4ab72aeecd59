"""What every `stickerbot` subcommand gets: the settings, and the library opened on demand."""

from collections.abc import Iterator
from contextlib import contextmanager

from bot.config import AppSettings
from engine import SearchService


class Context:
    """What every subcommand needs: settings, and the service opened on demand."""

    def __init__(self, settings: AppSettings) -> None:
        self.settings = settings

    @contextmanager
    def service(self) -> Iterator[SearchService]:
        """Open the library for the duration of a command."""
        svc = SearchService.open(self.settings.engine())
        try:
            yield svc
        finally:
            svc.close()
