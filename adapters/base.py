"""What every chat adapter is to the app: a lifecycle, status lines and the jobs it contributes."""

import asyncio
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Protocol, TypeVar

from engine import Job, OperatorError, SearchService

T = TypeVar("T")
JobFunc = Job  # the jobs an adapter contributes have the engine's `Job` shape
AdapterFactory = Callable[[SearchService, "StatusSource"], "Adapter"]


class StatusSource(Protocol):
    """Anything that adds lines to the bots' /status (the engine, an adapter, the scheduler)."""

    def status_lines(self) -> list[str]:
        """One line per fact, for admins."""
        ...


class Adapter(StatusSource, Protocol):
    """A chat platform connection living in the app's event loop."""

    name: str

    async def start(self) -> None:
        """Connect and start receiving updates."""
        ...

    async def stop(self) -> None:
        """Disconnect; must be safe after a failed or partial start."""
        ...

    def jobs(self) -> Mapping[str, JobFunc]:
        """Extra scheduled jobs this adapter needs (by job name)."""
        ...


class StartupError(OperatorError):
    """A platform refused to start (token rejected, network down, port taken)."""


class StatusBoard:
    """The one status every bot shows: the library, then each source's lines, in order."""

    def __init__(self, svc: SearchService, sources: Sequence[StatusSource] = ()) -> None:
        self.svc = svc
        self.sources = list(sources)

    def add(self, source: StatusSource) -> None:
        """Show this source's lines too, after the ones added before."""
        self.sources.append(source)

    def status_lines(self) -> list[str]:
        """Blocking (reads the library): run it off the event loop."""
        lines = self.svc.status().lines()
        for source in self.sources:
            lines += source.status_lines()
        return lines


async def blocking(func: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """Run a blocking engine call off the event loop."""
    return await asyncio.to_thread(func, *args, **kwargs)
