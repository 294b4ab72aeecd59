"""The composition root: one event loop runs the chat adapters and the job scheduler."""

import asyncio
import logging
import os
import signal
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager

from apscheduler.schedulers.asyncio import AsyncIOScheduler  # type: ignore[import-untyped]

from adapters.base import Adapter, AdapterFactory, StatusBoard
from bot.config import AppSettings
from engine import ConfigError, RedactingFilter, Redactor, SearchService
from jobs.scheduler import JobStatus, build_scheduler, stop_scheduler
from jobs.tasks import JOBS, JobFunc

log = logging.getLogger("stickerbot.app")
LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
# Libraries that log every HTTP request or job run at INFO: our own lines say what matters.
CHATTY_LOGGERS = ("httpx", "httpcore", "apscheduler")
WRITE_HALT_S = 5.0  # how long an exit waits for a vector write in progress


def secret_values(settings: AppSettings, env: Mapping[str, str] | None = None) -> list[str]:
    """Every secret this process may hold, from the environment."""
    env = os.environ if env is None else env
    names = settings.secret_env_names()
    return [env[n].strip() for n in names if env.get(n, "").strip()]


def configure_logging(redact: Redactor) -> None:
    """Log to stderr with timestamps, at INFO or finer, with secrets redacted on every handler."""
    logging.basicConfig(level=logging.INFO, format=LOG_FORMAT)  # no-op if the CLI did it
    root = logging.getLogger()
    if root.level > logging.INFO:
        root.setLevel(logging.INFO)
    if root.level > logging.DEBUG:
        for name in CHATTY_LOGGERS:
            logging.getLogger(name).setLevel(logging.WARNING)
    # On handlers, not loggers: a logger's filters miss records propagated from child loggers.
    for handler in root.handlers:
        handler.addFilter(RedactingFilter(redact))


def wanted(enabled: bool | None, token_env: str, env: Mapping[str, str]) -> bool:
    """An adapter runs when enabled explicitly, or by default when its token is set."""
    return enabled if enabled is not None else bool(env.get(token_env, "").strip())


def enabled_adapters(
    settings: AppSettings, redact: Redactor, env: Mapping[str, str] | None = None
) -> list[AdapterFactory]:
    """Factories of the enabled adapters; a clear error when one enabled lacks its token."""
    from adapters.discord.settings import TOKEN_ENV as DISCORD_TOKEN
    from adapters.telegram.settings import TOKEN_ENV as TELEGRAM_TOKEN

    env = os.environ if env is None else env
    factories: list[AdapterFactory] = []
    if wanted(settings.telegram.enabled, TELEGRAM_TOKEN, env):
        from adapters.telegram import telegram_adapter

        factories.append(telegram_adapter(settings.telegram, env, redact))
    if wanted(settings.discord.enabled, DISCORD_TOKEN, env):
        from adapters.discord import discord_adapter

        factories.append(discord_adapter(settings.discord, env, redact, settings.telegram))
    if not factories:
        raise ConfigError(
            f"no chat adapter is enabled: export {TELEGRAM_TOKEN} or {DISCORD_TOKEN} (or both), "
            "or run `stickerbot worker` for the background jobs alone"
        )
    return factories


@contextmanager
def stop_on_signals(stop: asyncio.Event) -> Iterator[None]:
    """Set `stop` on SIGINT or SIGTERM while inside the block."""
    loop = asyncio.get_running_loop()

    def request(sig: signal.Signals) -> None:
        log.info("received %s, stopping", sig.name)
        stop.set()

    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, request, sig)
    try:
        yield
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)


async def run_bot(
    settings: AppSettings,
    *,
    with_jobs: bool = True,
    with_adapters: bool = True,
    adapters: Sequence[AdapterFactory] | None = None,
    stop: asyncio.Event | None = None,
    redact: Redactor | None = None,
) -> list[str]:
    """Run the adapters and the job scheduler in this loop until SIGINT or SIGTERM.

    Returns the jobs still running when it gave up waiting for them (the library is then left
    open with its writes halted: the caller should exit the process).
    """
    redact = redact or Redactor(secret_values(settings))
    if with_adapters and adapters is None:
        adapters = enabled_adapters(settings, redact)
    factories = list(adapters or []) if with_adapters else []
    with_jobs = with_jobs and settings.jobs.enabled
    if not factories and not with_jobs:
        raise ConfigError("nothing to run: no adapter, and jobs are off ([jobs] enabled = false)")
    stop = stop or asyncio.Event()
    with stop_on_signals(stop):
        # Opening loads models and takes the writer lock: keep the loop free meanwhile.
        svc = await asyncio.to_thread(SearchService.open, settings.engine())
        jobs = JobStatus(redact)
        try:
            await _serve(svc, settings, factories, with_jobs, jobs, stop)
        finally:
            busy = await _close(svc, jobs)
    log.info("stickerbot stopped")
    return busy


def _build(
    svc: SearchService, factories: Sequence[AdapterFactory], jobs: JobStatus
) -> list[Adapter]:
    """Build every adapter around one status board: library, each adapter, then the jobs."""
    board = StatusBoard(svc)
    built = [make(svc, board) for make in factories]
    for adapter in built:
        board.add(adapter)
    board.add(jobs)
    return built


async def _serve(
    svc: SearchService,
    settings: AppSettings,
    factories: Sequence[AdapterFactory],
    with_jobs: bool,
    jobs: JobStatus,
    stop: asyncio.Event,
) -> None:
    built = _build(svc, factories, jobs)
    started: list[Adapter] = []
    scheduler = None
    try:
        for adapter in built:
            started.append(adapter)  # before start: a half-started adapter must be stopped too
            await adapter.start()
            log.info("%s adapter started", adapter.name)
        # After the adapters: a job such as telegram_uploads needs an initialized bot.
        if with_jobs:
            scheduler = _start_scheduler(svc, settings, jobs, built)
        parts = [a.name for a in built] + (["jobs"] if with_jobs else [])
        log.info("stickerbot running (%s); stop with SIGINT or SIGTERM", ", ".join(parts))
        await stop.wait()
    finally:
        svc.request_stop()  # running jobs end after their current batch
        if scheduler is not None:
            await stop_scheduler(scheduler)
            await _drain(jobs, settings.jobs.shutdown_grace_s)
        # After the jobs: a running telegram_uploads still needs the bot.
        for adapter in reversed(started):
            await _stop_adapter(adapter)


def _start_scheduler(
    svc: SearchService, settings: AppSettings, status: JobStatus, adapters: Sequence[Adapter]
) -> AsyncIOScheduler:
    jobs: dict[str, JobFunc] = dict(JOBS)
    for adapter in adapters:
        jobs.update(adapter.jobs())
    cfg = settings.jobs
    scheduler = build_scheduler(
        svc,
        status,
        cfg.intervals.model_dump(),
        jobs,
        first_run_delay_s=cfg.first_run_delay_s,
        misfire_grace_s=cfg.misfire_grace_s,
    )
    scheduler.start()
    log.info("scheduler started: %s", ", ".join(status.records) or "no jobs")
    return scheduler


async def _stop_adapter(adapter: Adapter) -> None:
    try:
        await adapter.stop()
        log.info("%s adapter stopped", adapter.name)
    except Exception:
        # One adapter failing to stop must not keep the others (or the library) open.
        log.exception("%s adapter did not stop cleanly", adapter.name)


async def _drain(status: JobStatus, grace_s: float) -> None:
    if status.running():
        log.info("waiting up to %gs for running jobs: %s", grace_s, ", ".join(status.running()))
    busy = await status.drain(grace_s)
    if busy:
        log.warning("jobs still running after %gs: %s", grace_s, ", ".join(busy))


async def _close(svc: SearchService, status: JobStatus) -> list[str]:
    busy = status.running()
    if not busy:
        await asyncio.to_thread(svc.close)
        return []
    # Closing under a running writer could corrupt the library. Instead no write may start or
    # finish any more: the busy job's uncommitted batch is redone on the next run.
    if not await asyncio.to_thread(svc.halt_writes, WRITE_HALT_S):
        log.error("a vector write did not finish in %gs; exiting all the same", WRITE_HALT_S)
    return busy


def run(
    settings: AppSettings,
    *,
    with_jobs: bool = True,
    with_adapters: bool = True,
    adapters: Sequence[AdapterFactory] | None = None,
) -> None:
    """Configure logging and run the app until SIGINT or SIGTERM (the CLI's entry)."""
    redact = Redactor(secret_values(settings))
    configure_logging(redact)
    busy = asyncio.run(
        run_bot(
            settings,
            with_jobs=with_jobs,
            with_adapters=with_adapters,
            adapters=adapters,
            redact=redact,
        )
    )
    if busy:
        # A job thread cannot be interrupted and Python would wait for it at exit: leave now,
        # with the library's writes halted (see _close).
        log.warning("exiting without waiting for %s; their work resumes on the next run", busy)
        logging.shutdown()
        os._exit(0)
