"""What the Discord handlers share: injected services, user and space keys, replies, errors."""

import logging
from dataclasses import dataclass

import discord

from adapters.base import StatusSource
from adapters.discord.settings import DiscordSettings
from engine import SearchService, UserFacingError

log = logging.getLogger(__name__)
PLATFORM = "discord"
MESSAGE_LIMIT = 2000  # Discord's longest message
GENERIC_ERROR = "Sorry, something went wrong. The admins can find the details in the log."
Interaction = discord.Interaction[discord.Client]


@dataclass(frozen=True)
class TelegramSource:
    """A Telegram bot token and API, for /addpack telegram (None when not configured)."""

    token: str
    base_url: str


@dataclass(frozen=True)
class Deps:
    """The services a handler needs, injected once when the client is built."""

    svc: SearchService
    settings: DiscordSettings
    status: StatusSource
    telegram: TelegramSource | None = None

    def is_operator(self, user: discord.abc.User) -> bool:
        """Whether the user is one of the bot's operators (discord.admins)."""
        return user.id in self.settings.admins


def user_key(user: discord.abc.User) -> str:
    """The engine's key for a Discord user."""
    return f"dc:{user.id}"


def space_of(guild_id: int | None) -> str | None:
    """The engine's space of a guild; None (global packs only) outside guilds."""
    return f"dc-guild:{guild_id}" if guild_id is not None else None


def chat_type(interaction: Interaction) -> str:
    """Where an interaction happened, as interactions record it."""
    return "guild" if interaction.guild_id is not None else "dm"


def clip(text: str, limit: int = MESSAGE_LIMIT) -> str:
    """Text cut to fit one Discord message."""
    return text if len(text) <= limit else text[: limit - 1] + "…"


async def reply(interaction: Interaction, text: str) -> None:
    """An ephemeral answer: the first response, or a follow-up once responded or deferred."""
    if interaction.response.is_done():
        await interaction.followup.send(clip(text), ephemeral=True)
    else:
        await interaction.response.send_message(clip(text), ephemeral=True)


async def report_error(interaction: Interaction, error: BaseException) -> None:
    """Log the failure; tell the user only a UserFacingError's message, or that it failed."""
    if isinstance(error, UserFacingError):
        log.info("refused an interaction: %s", error)
        text = str(error)
    else:
        log.error("error while handling an interaction", exc_info=error)
        text = GENERIC_ERROR
    try:
        await reply(interaction, text)
    except discord.HTTPException as exc:  # the token may have expired; the log has the story
        log.warning("could not report an error to the user: %s", exc)
