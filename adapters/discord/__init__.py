"""Discord adapter: /sticker with autocomplete, pick and post, similar stickers, server packs."""

from adapters.discord.client import StickerBot, intents_for
from adapters.discord.common import Deps, TelegramSource
from adapters.discord.runtime import DiscordRuntime, discord_adapter, use_endpoints
from adapters.discord.settings import DiscordSettings

__all__ = [
    "Deps",
    "DiscordRuntime",
    "DiscordSettings",
    "StickerBot",
    "TelegramSource",
    "discord_adapter",
    "intents_for",
    "use_endpoints",
]
