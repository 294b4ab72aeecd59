"""The composition root: one event loop runs the chat adapters and the job scheduler."""

import asyncio
import logging
import os
import re
import signal
from collections.abc import Awaitable, Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from importlib.util import find_spec
from typing import TYPE_CHECKING, Any, Protocol
from urllib.parse import quote, urlparse

from apscheduler.schedulers.asyncio import AsyncIOScheduler  # type: ignore[import-untyped]

from bot.config import AppSettings, TelegramSettings
from engine.errors import ConfigError, StickerbotError
from engine.service import SearchService
from jobs.scheduler import JobStatus, build_scheduler, stop_scheduler
from jobs.tasks import JOBS, JobFunc, JobOutcome

if TYPE_CHECKING:
    from telegram import Bot
    from telegram.ext import Application

log = logging.getLogger("stickerbot.app")
LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
REDACTED = "[REDACTED]"
MIN_SECRET_CHARS = 8  # shorter values would redact ordinary words
WEBHOOK_SECRET = re.compile(r"[A-Za-z0-9_-]{1,256}")  # what Telegram accepts as secret_token
# Libraries that log every HTTP request or job run at INFO: our own lines say what matters.
CHATTY_LOGGERS = ("httpx", "httpcore", "apscheduler")


class StartupError(StickerbotError):
    """A platform refused to start (token rejected, network down, port taken)."""


class StatusProvider(Protocol):
    """What the bots' /status command shows (adapters.telegram defines the same shape)."""

    def lines(self) -> list[str]:
        """Status lines."""
        ...


class Adapter(Protocol):
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


AdapterFactory = Callable[[SearchService, AppSettings, StatusProvider], Adapter]


# --- secrets and logging --------------------------------------------------------------------


class Redactor:
    """Replaces known secret values (bot tokens, webhook secrets) in text."""

    def __init__(self, secrets: Iterable[str]) -> None:
        values = {s for s in secrets if len(s) >= MIN_SECRET_CHARS}
        values |= {quote(s, safe="") for s in values}  # as it appears inside a URL
        # Longest first, so a secret containing another is replaced whole.
        self.secrets = sorted(values, key=len, reverse=True)

    def __call__(self, text: str) -> str:
        for secret in self.secrets:
            text = text.replace(secret, REDACTED)
        return text


class RedactingFilter(logging.Filter):
    """A handler filter that redacts secrets in messages, arguments and tracebacks."""

    def __init__(self, redact: Redactor) -> None:
        super().__init__()
        self.redact = redact

    def filter(self, record: logging.LogRecord) -> bool:
        """Rewrite the record in place; never drops it."""
        if not self.redact.secrets:
            return True
        record.msg, record.args = self.redact(record.getMessage()), None
        if record.exc_info and not record.exc_text:
            # Formatters reuse exc_text when set, so the redacted traceback is what gets printed.
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = self.redact(record.exc_text)
        if record.stack_info:
            record.stack_info = self.redact(record.stack_info)
        return True


def secret_values(settings: AppSettings, env: Mapping[str, str] | None = None) -> list[str]:
    """Every secret this process may hold, from the environment."""
    env = os.environ if env is None else env
    names = ("TELEGRAM_BOT_TOKEN", "DISCORD_BOT_TOKEN", settings.telegram.webhook_secret_env)
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


# --- Telegram -------------------------------------------------------------------------------


def webhook_secret(cfg: TelegramSettings, env: Mapping[str, str]) -> str | None:
    """The webhook secret token in webhook mode (checked), None in polling mode."""
    if cfg.mode != "webhook":
        return None
    if urlparse(cfg.webhook_url).scheme != "https":
        raise ConfigError('telegram.mode is "webhook": set telegram.webhook_url to an https URL')
    if find_spec("tornado") is None:
        raise ConfigError(
            'webhook mode needs the webhook extra: pip install "python-telegram-bot[webhooks]"'
        )
    secret = env.get(cfg.webhook_secret_env, "").strip()
    if not WEBHOOK_SECRET.fullmatch(secret):
        raise ConfigError(
            f"webhook mode needs a secret token in ${cfg.webhook_secret_env} "
            "(1-256 characters of A-Z, a-z, 0-9, _ and -), so that only Telegram can post updates"
        )
    return secret


class TelegramRuntime:
    """A python-telegram-bot Application in the manual lifecycle, sharing the app's loop."""

    name = "telegram"

    def __init__(
        self,
        application: "Application[Any, Any, Any, Any, Any, Any]",
        settings: AppSettings,
        uploader: "Callable[[Bot, SearchService, AppSettings], Awaitable[int]]",
        redact: Redactor,
        secret: str | None = None,
    ) -> None:
        self.app = application
        self.settings = settings
        self._uploader = uploader
        self._redact = redact
        self._secret = secret

    async def start(self) -> None:
        """initialize, post_init, start, then polling or the webhook server."""
        from telegram.error import InvalidToken, TelegramError

        try:
            await self.app.initialize()
            if self.app.post_init:  # run_polling would call it; the manual lifecycle must too
                await self.app.post_init(self.app)
            await self.app.start()
            await self._receive_updates()
        except InvalidToken:
            raise StartupError(
                "Telegram rejected TELEGRAM_BOT_TOKEN; check it with @BotFather"
            ) from None
        except TelegramError as exc:
            raise StartupError(f"cannot start the Telegram bot: {self._redact(str(exc))}") from exc

    async def _receive_updates(self) -> None:
        from telegram import Update

        updater, cfg = self.app.updater, self.settings.telegram
        if updater is None:
            raise StartupError("the Telegram application was built without an updater")
        if cfg.mode == "polling":
            await updater.start_polling(allowed_updates=Update.ALL_TYPES)
            return
        await updater.start_webhook(
            listen=cfg.webhook_listen,
            port=cfg.webhook_port,
            url_path=urlparse(cfg.webhook_url).path,
            webhook_url=cfg.webhook_url,
            secret_token=self._secret,
            allowed_updates=Update.ALL_TYPES,
        )

    async def stop(self) -> None:
        """updater.stop, stop, post_stop, shutdown, post_shutdown: each only if it applies."""
        app = self.app
        if app.updater is not None and app.updater.running:
            await app.updater.stop()
        if app.running:
            await app.stop()
            if app.post_stop:
                await app.post_stop(app)
        await app.shutdown()  # a no-op when initialize never completed
        if app.post_shutdown:
            await app.post_shutdown(app)

    def jobs(self) -> Mapping[str, JobFunc]:
        """telegram_uploads: gives stickers Telegram file_ids; needs this bot."""
        return {"telegram_uploads": self._upload_job}

    async def _upload_job(self, svc: SearchService) -> JobOutcome:
        n = await self._uploader(self.app.bot, svc, self.settings)
        return JobOutcome("telegram_uploads", f"{n} stickers uploaded to Telegram")


def telegram_factory(token: str, redact: Redactor, secret: str | None) -> AdapterFactory:
    """Builds the Telegram adapter once the library is open."""

    def build(svc: SearchService, settings: AppSettings, status: StatusProvider) -> Adapter:
        from adapters.telegram import build_application, upload_pending

        application = build_application(svc, settings, token, status)
        return TelegramRuntime(application, settings, upload_pending, redact, secret)

    return build


# --- composition ----------------------------------------------------------------------------


def enabled_adapters(
    settings: AppSettings, redact: Redactor, env: Mapping[str, str] | None = None
) -> list[AdapterFactory]:
    """Factories of the enabled adapters; a clear error when one lacks its token."""
    env = os.environ if env is None else env
    factories: list[AdapterFactory] = []
    if settings.telegram.enabled:
        token = env.get("TELEGRAM_BOT_TOKEN", "").strip()
        if not token:
            raise ConfigError(
                "telegram.enabled is true but TELEGRAM_BOT_TOKEN is not set: export the token "
                "from @BotFather, or set enabled = false under [telegram]"
            )
        secret = webhook_secret(settings.telegram, env)
        factories.append(telegram_factory(token, redact, secret))
    if settings.discord.enabled:
        log.warning("the Discord adapter is not part of this build yet; [discord] is ignored")
    if not factories:
        raise ConfigError(
            "no chat adapter is enabled: enable [telegram], or run `stickerbot worker` for the "
            "background jobs alone"
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
) -> None:
    """Run the adapters and the job scheduler in this loop until SIGINT or SIGTERM."""
    redact = Redactor(secret_values(settings))
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
        status = JobStatus(redact)
        try:
            await _serve(svc, settings, factories, with_jobs, status, stop)
        finally:
            await _close(svc, status)
    log.info("stickerbot stopped")


async def _serve(
    svc: SearchService,
    settings: AppSettings,
    factories: Sequence[AdapterFactory],
    with_jobs: bool,
    status: JobStatus,
    stop: asyncio.Event,
) -> None:
    built = [make(svc, settings, status) for make in factories]
    started: list[Adapter] = []
    scheduler = None
    try:
        for adapter in built:
            started.append(adapter)  # before start: a half-started adapter must be stopped too
            await adapter.start()
            log.info("%s adapter started", adapter.name)
        # After the adapters: a job such as telegram_uploads needs an initialized bot.
        if with_jobs:
            scheduler = _start_scheduler(svc, settings, status, built)
        parts = [a.name for a in built] + (["jobs"] if with_jobs else [])
        log.info("stickerbot running (%s); stop with SIGINT or SIGTERM", ", ".join(parts))
        await stop.wait()
    finally:
        if scheduler is not None:
            await stop_scheduler(scheduler)
            await _drain(status, settings.jobs.shutdown_grace_s)
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
        log.warning("jobs still running: %s; the process exits when they end", ", ".join(busy))


async def _close(svc: SearchService, status: JobStatus) -> None:
    if status.running():
        # Closing under a running writer could corrupt the library; the OS releases the lock
        # when the process exits, which Python delays until the job's thread ends.
        return
    await asyncio.to_thread(svc.close)


def run(
    settings: AppSettings,
    *,
    with_jobs: bool = True,
    with_adapters: bool = True,
    adapters: Sequence[AdapterFactory] | None = None,
) -> None:
    """Configure logging and run the app until SIGINT or SIGTERM (the CLI's entry)."""
    configure_logging(Redactor(secret_values(settings)))
    asyncio.run(
        run_bot(settings, with_jobs=with_jobs, with_adapters=with_adapters, adapters=adapters)
    )
