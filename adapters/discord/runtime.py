"""The Discord adapter's lifecycle: login (and setup_hook), the gateway in the app's loop, close.

discord.py's own HTTP and gateway clients do all the talking. `discord.api_base_url`,
`gateway_url` and `cdn_url` point them at anything that speaks Discord's API (a proxy, a
self-hosted gateway, the tests' fake) by setting the library's base URLs, which are per process.
"""

import asyncio
import contextlib
import logging
from collections.abc import Mapping

import aiohttp
import discord
import yarl

from adapters.base import AdapterFactory, JobFunc, StartupError, StatusSource
from adapters.discord.client import StickerBot
from adapters.discord.common import PLATFORM, Deps, TelegramSource
from adapters.discord.settings import OFFICIAL_API, TOKEN_ENV, DiscordSettings
from adapters.telegram.settings import TOKEN_ENV as TELEGRAM_TOKEN_ENV
from adapters.telegram.settings import TelegramSettings
from engine import ConfigError, Redactor, SearchService

log = logging.getLogger(__name__)
READY_TIMEOUT_S = 60.0


def use_endpoints(settings: DiscordSettings) -> None:
    """Point discord.py's REST client and CDN reads at the configured servers."""
    discord.http.Route.BASE = settings.api_base_url.rstrip("/")
    discord.asset.Asset.BASE = settings.cdn_url.rstrip("/")
    if settings.gateway_url:
        discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(settings.gateway_url)


class DiscordRuntime:
    """A discord.py client sharing the app's loop: started, then connected until stopped."""

    name = PLATFORM

    def __init__(self, bot: StickerBot, settings: DiscordSettings, token: str, redact: Redactor):
        self.bot = bot
        self.settings = settings
        self._token = token
        self._redact = redact
        self._gateway: asyncio.Task[None] | None = None

    async def start(self) -> None:
        """Log in (setup_hook syncs the commands), connect, and wait for READY."""
        use_endpoints(self.settings)
        try:
            await self.bot.login(self._token)
            await self._find_gateway()
        except discord.LoginFailure:
            raise StartupError(
                f"Discord rejected {TOKEN_ENV}; check it in the developer portal"
            ) from None
        except (discord.HTTPException, aiohttp.ClientError, OSError) as exc:
            raise StartupError(f"cannot start the Discord bot: {self._redact(str(exc))}") from exc
        self._gateway = asyncio.create_task(self.bot.connect(reconnect=True), name="discord")
        await self._until_ready()

    async def _find_gateway(self) -> None:
        # discord.py connects to Discord's gateway without asking; another API names its own.
        if self.settings.gateway_url or self.settings.api_base_url.rstrip("/") == OFFICIAL_API:
            return
        _shards, url, _limits = await self.bot.http.get_bot_gateway()
        discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(url)

    async def _until_ready(self) -> None:
        assert self._gateway is not None
        ready = asyncio.create_task(self.bot.connected.wait())
        done, _ = await asyncio.wait(
            {ready, self._gateway}, timeout=READY_TIMEOUT_S, return_when=asyncio.FIRST_COMPLETED
        )
        if ready in done:
            return
        ready.cancel()
        if self._gateway in done:
            raise StartupError(f"the Discord gateway refused the bot: {self._gateway_error()}")
        raise StartupError(f"no READY from the Discord gateway within {READY_TIMEOUT_S:g}s")

    def _gateway_error(self) -> str:
        assert self._gateway is not None
        error = self._gateway.exception()
        if isinstance(error, discord.PrivilegedIntentsRequired):
            return "it asks for an intent the application may not use (see the README)"
        return self._redact(str(error)) if error else "the connection closed"

    async def stop(self) -> None:
        """Close the gateway and the HTTP session; safe after a failed or partial start."""
        await self.bot.close()
        if self._gateway is not None:
            if not self._gateway.done():
                self._gateway.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._gateway  # its failure was reported by start() or the log

    def status_lines(self) -> list[str]:
        """Connection and what the intents allow."""
        bot = self.bot
        if bot.connected.is_set() and bot.user is not None:
            line = f"Discord: connected as {bot.user} to {len(bot.guilds)} servers"
        else:
            line = "Discord: not connected"
        sent = (
            "sent stickers recorded (GUILD_MESSAGES intent)"
            if self.settings.record_sent
            else "sent stickers not recorded (discord.record_sent = false)"
        )
        return [line, f"Discord: {sent}"]

    def jobs(self) -> Mapping[str, JobFunc]:
        """No jobs: Discord stickers are posted as images, nothing needs uploading first."""
        return {}


def discord_adapter(
    settings: DiscordSettings,
    env: Mapping[str, str],
    redact: Redactor,
    telegram: TelegramSettings | None = None,
) -> AdapterFactory:
    """Check the token now; build the adapter once the library is open.

    With a Telegram token in the environment too, /addpack telegram imports Telegram sets.
    """
    token = env.get(TOKEN_ENV, "").strip()
    if not token:
        raise ConfigError(
            f"discord.enabled is true but {TOKEN_ENV} is not set: export the bot token from "
            "the Discord developer portal, or set enabled = false under [discord]"
        )
    telegram_token = env.get(TELEGRAM_TOKEN_ENV, "").strip()
    source = None
    if telegram is not None and telegram_token:
        source = TelegramSource(telegram_token, telegram.base_url)

    def build(svc: SearchService, status: StatusSource) -> DiscordRuntime:
        deps = Deps(svc, settings, status, source)
        return DiscordRuntime(StickerBot(deps), settings, token, redact)

    return build
