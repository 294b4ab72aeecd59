"""Discord adapter (its settings section so far; the bot itself is the "Discord bot" issue)."""

from adapters.discord.settings import DiscordSettings

__all__ = ["DiscordSettings"]
