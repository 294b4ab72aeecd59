"""The discord.py client: intents, the error handler, and one-time setup in `setup_hook`.

Intents (none privileged): GUILDS (servers and channels, for interactions' channels and
webhooks), GUILD_EXPRESSIONS (the servers' sticker lists stay current, so a pick of a server's
own sticker is posted as that sticker), and, unless `discord.record_sent` is false,
GUILD_MESSAGES and DIRECT_MESSAGES for the `sent` signal: messages carry `sticker_items` without
the privileged MESSAGE_CONTENT intent. Message content itself is never needed: slash commands
bring their options, and a message context menu brings the message with its attachments.
"""

import asyncio
import logging

import discord
from discord import app_commands
from discord.ext import commands

from adapters.discord.cog import StickerCog
from adapters.discord.common import Deps, Interaction, report_error
from adapters.discord.results import Results
from adapters.discord.settings import DiscordSettings
from adapters.discord.views import PageButton, PickButton

log = logging.getLogger(__name__)
# The bot never joins voice: discord.py's start-up warnings about voice libraries only alarm.
discord.VoiceClient.warn_nacl = False
discord.VoiceClient.warn_dave = False


def intents_for(settings: DiscordSettings) -> discord.Intents:
    """The gateway intents the bot asks for; none of them privileged."""
    intents = discord.Intents.none()
    intents.guilds = True
    intents.expressions = True
    intents.guild_messages = settings.record_sent
    intents.dm_messages = settings.record_sent
    return intents


class StickerTree(app_commands.CommandTree[discord.Client]):
    """The command tree with the one error handler of every command."""

    async def on_error(self, interaction: Interaction, error: app_commands.AppCommandError) -> None:
        """Unwrap the command's own exception and report it (see `report_error`)."""
        original = error.original if isinstance(error, app_commands.CommandInvokeError) else error
        await report_error(interaction, original)


async def sync_commands(
    tree: app_commands.CommandTree[discord.Client], guilds: tuple[int, ...]
) -> None:
    """Publish the commands: to the configured servers at once, else globally.

    With servers configured the global list is emptied, so that those servers do not show
    every command twice; other servers then have none.
    """
    try:
        if not guilds:
            await tree.sync()
            return
        for guild_id in guilds:
            guild = discord.Object(guild_id)
            tree.copy_global_to(guild=guild)
            await tree.sync(guild=guild)
        tree.clear_commands(guild=None)
        await tree.sync()
    except discord.HTTPException as exc:  # registered commands from earlier runs still work
        log.warning("could not publish the commands: %s", exc)


class StickerBot(commands.Bot):
    """The bot: one Cog over the engine, result buttons that survive restarts."""

    def __init__(self, deps: Deps) -> None:
        super().__init__(
            command_prefix=commands.when_mentioned,
            intents=intents_for(deps.settings),
            help_command=None,
            tree_cls=StickerTree,
            max_messages=None,  # no message cache: nothing reads old messages
            allowed_mentions=discord.AllowedMentions.none(),
        )
        self.deps = deps
        self.result_handlers = Results(deps)
        # Set on READY: the token and intents were accepted. discord.py's own "ready" comes
        # later, once no server has arrived for a while; interactions work before that.
        self.connected = asyncio.Event()

    async def setup_hook(self) -> None:
        """Once, after login and before the gateway: the Cog, the buttons, the commands."""
        await self.add_cog(StickerCog(self, self.deps, self.result_handlers))
        self.add_dynamic_items(PickButton, PageButton)
        await sync_commands(self.tree, self.deps.settings.guilds)

    async def on_connect(self) -> None:
        """The gateway accepted the session (READY)."""
        self.connected.set()

    async def on_disconnect(self) -> None:
        """Gone until discord.py reconnects."""
        self.connected.clear()

    async def on_message(self, message: discord.Message, /) -> None:
        """No prefix commands: the Cog's listener is all a message is for."""
