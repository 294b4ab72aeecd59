"""The Telegram adapter's lifecycle: the Application in the app's loop, polling or a webhook."""

import re
from collections.abc import Mapping
from importlib.util import find_spec
from urllib.parse import urlparse

from telegram import Update
from telegram.error import InvalidToken, TelegramError

from adapters.base import AdapterFactory, JobFunc, StartupError, StatusSource
from adapters.telegram.application import TgApp, build_application
from adapters.telegram.common import PLATFORM
from adapters.telegram.settings import TOKEN_ENV, TelegramSettings
from adapters.telegram.uploads import upload_pending
from engine import ConfigError, Progress, Redactor, SearchService

WEBHOOK_SECRET = re.compile(r"[A-Za-z0-9_-]{1,256}")  # what Telegram accepts as secret_token


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

    name = PLATFORM

    def __init__(
        self,
        application: TgApp,
        svc: SearchService,
        settings: TelegramSettings,
        redact: Redactor,
        secret: str | None = None,
    ) -> None:
        self.app = application
        self.svc = svc
        self.settings = settings
        self._redact = redact
        self._secret = secret

    async def start(self) -> None:
        """initialize, post_init, start, then polling or the webhook server."""
        try:
            await self.app.initialize()
            if self.app.post_init:  # run_polling would call it; the manual lifecycle must too
                await self.app.post_init(self.app)
            await self.app.start()
            await self._receive_updates()
        except InvalidToken:
            raise StartupError(f"Telegram rejected {TOKEN_ENV}; check it with @BotFather") from None
        except TelegramError as exc:
            raise StartupError(f"cannot start the Telegram bot: {self._redact(str(exc))}") from exc

    async def _receive_updates(self) -> None:
        updater, cfg = self.app.updater, self.settings
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

    def status_lines(self) -> list[str]:
        """The Telegram upload backlog (blocking: reads the library)."""
        line = f"Telegram upload backlog: {self.svc.platform(PLATFORM).upload_backlog()} stickers"
        if self.settings.storage_chat_id is None:
            line += " (uploads off: set telegram.storage_chat_id)"
        return [line]

    def jobs(self) -> Mapping[str, JobFunc]:
        """telegram_uploads: gives stickers Telegram file_ids; needs this bot."""
        return {"telegram_uploads": self._upload_job}

    async def _upload_job(self, svc: SearchService, progress: Progress | None = None) -> str:
        n = await upload_pending(self.app.bot, svc, self.settings)
        return f"{n} stickers uploaded to Telegram"


def telegram_adapter(
    settings: TelegramSettings, env: Mapping[str, str], redact: Redactor
) -> AdapterFactory:
    """Check the token (and webhook secret) now; build the adapter once the library is open."""
    token = env.get(TOKEN_ENV, "").strip()
    if not token:
        raise ConfigError(
            f"telegram.enabled is true but {TOKEN_ENV} is not set: export the token "
            "from @BotFather, or set enabled = false under [telegram]"
        )
    secret = webhook_secret(settings, env)

    def build(svc: SearchService, status: StatusSource) -> TelegramRuntime:
        application = build_application(svc, settings, token, status)
        return TelegramRuntime(application, svc, settings, redact, secret)

    return build
