"""The one Cog: every slash command, the context menu and the message listener, with the engine
surface injected. Each handler parses, makes one call and answers; the bodies live beside it."""

import asyncio
import logging
from typing import Literal

import discord
from discord import app_commands
from discord.ext import commands

from adapters.base import blocking
from adapters.discord.admin import PackAdmin, allowed
from adapters.discord.common import PLATFORM, Deps, Interaction, reply, space_of, user_key
from adapters.discord.packs import import_guild, import_telegram, import_zip
from adapters.discord.results import Results
from adapters.discord.views import MAX_QUERY

log = logging.getLogger(__name__)
MAX_CHOICES = 25  # Discord's most autocomplete choices
CHOICE_LIMIT = 100  # Discord's longest choice name and value
# Discord drops an autocomplete answered after 3 s; answering empty beats answering late.
AUTOCOMPLETE_BUDGET_S = 2.0
MANAGERS = discord.Permissions(manage_expressions=True)
HELP = (
    "I find stickers by meaning and post them for you.\n"
    "**/sticker** `happy` · `🐱` · `good night` — pick a number from the preview to post it; "
    "an empty query shows your recent ones.\n"
    "Right-click a message with a sticker or image › Apps › **Find similar stickers**.\n"
    "The stickers you pick and send rank higher for you next time.\n"
    "**/nsfw** on|off: NSFW stickers in your results (in age-restricted channels only)\n"
    "**/forgetme**: delete your history and settings"
)


class StickerCog(commands.Cog):
    """Search, pick and post; user settings; pack admin; `sent` signals."""

    addpack = app_commands.Group(
        name="addpack",
        description="Import stickers for this server",
        guild_only=True,
        default_permissions=MANAGERS,
    )

    def __init__(self, bot: commands.Bot, deps: Deps, results: Results) -> None:
        self.bot = bot
        self.deps = deps
        self.results = results
        self.admin = PackAdmin(deps)
        self.similar_menu = app_commands.ContextMenu(
            name="Find similar stickers", callback=self.find_similar
        )

    async def cog_load(self) -> None:
        """Context menus cannot live in a Cog's body: add it to the tree by hand."""
        self.bot.tree.add_command(self.similar_menu)

    async def cog_unload(self) -> None:
        """Take the context menu out again."""
        self.bot.tree.remove_command(self.similar_menu.name, type=self.similar_menu.type)

    # --- search ---------------------------------------------------------------------------

    @app_commands.command(name="sticker", description="Find a sticker and post it here")
    @app_commands.describe(query="What it should say: happy, 🐱, good night… (empty: recent)")
    async def sticker(
        self, interaction: Interaction, query: app_commands.Range[str, None, MAX_QUERY] = ""
    ) -> None:
        """Show the first page of the user's ranking, ephemeral, with pick buttons."""
        await self.results.search(interaction, query)

    @sticker.autocomplete("query")
    async def sticker_query(
        self, interaction: Interaction, current: str
    ) -> list[app_commands.Choice[str]]:
        """Completions of what is typed: the user's past queries, then the library's phrases."""
        key, space = user_key(interaction.user), space_of(interaction.guild_id)
        suggest = self.deps.svc.suggest
        try:
            found = await asyncio.wait_for(
                blocking(suggest, key, current[:MAX_QUERY], MAX_CHOICES, space),
                AUTOCOMPLETE_BUDGET_S,
            )
        except TimeoutError:
            log.warning("autocomplete for %r took over %gs", current, AUTOCOMPLETE_BUDGET_S)
            return []
        except Exception:  # an autocomplete has no way to show an error
            log.exception("autocomplete failed")
            return []
        texts = [s.text for s in found if 0 < len(s.text) <= min(MAX_QUERY, CHOICE_LIMIT)]
        return [app_commands.Choice(name=t, value=t) for t in texts[:MAX_CHOICES]]

    async def find_similar(self, interaction: Interaction, message: discord.Message) -> None:
        """The message context menu: stickers that look like the message's sticker or image."""
        await self.results.similar(interaction, message)

    # --- everyone -------------------------------------------------------------------------

    @app_commands.command(name="help", description="How to find and post stickers")
    async def help(self, interaction: Interaction) -> None:
        """Explain /sticker and the context menu."""
        await reply(interaction, HELP)

    @app_commands.command(name="nsfw", description="Show or hide NSFW stickers in your results")
    @app_commands.describe(mode="on or off; leave empty to see the current choice")
    async def nsfw(
        self, interaction: Interaction, mode: Literal["on", "off"] | None = None
    ) -> None:
        """Store the user's choice; without one, show it."""
        users, key = self.deps.svc.users, user_key(interaction.user)
        if mode is not None:
            await blocking(users.set_nsfw_opt_in, key, mode == "on")
        state = "shown" if await blocking(users.nsfw_opt_in, key) else "hidden"
        await reply(interaction, f"NSFW stickers are {state} in your results.")

    @app_commands.command(name="forgetme", description="Delete your history and settings")
    async def forgetme(self, interaction: Interaction) -> None:
        """Delete the user's history, profile (with settings) and cached pages."""
        report = await blocking(self.deps.svc.users.forget, user_key(interaction.user))
        await reply(
            interaction,
            f"Done: I deleted your {report.interactions} sticker picks and your profile. "
            "Your results are no longer personalized and NSFW stickers are hidden.",
        )

    # --- admins ---------------------------------------------------------------------------

    @addpack.command(name="server", description="Import this server's own stickers")
    async def addpack_server(self, interaction: Interaction) -> None:
        """Download and import every sticker of this server, scoped to it."""
        if interaction.guild is None or not await allowed(self.deps, interaction):
            return
        await interaction.response.defer(ephemeral=True, thinking=True)
        await reply(interaction, await import_guild(self.deps, interaction, interaction.guild))

    @addpack.command(name="telegram", description="Import a Telegram sticker set")
    @app_commands.describe(name="The set's name or its t.me/addstickers link")
    async def addpack_telegram(self, interaction: Interaction, name: str) -> None:
        """Download and import a Telegram set, scoped to this server."""
        if not await allowed(self.deps, interaction):
            return
        await interaction.response.defer(ephemeral=True, thinking=True)
        await reply(interaction, await import_telegram(self.deps, interaction, name))

    @addpack.command(name="zip", description="Import a zip archive of sticker images")
    @app_commands.describe(file="A .zip of PNG, WEBP, GIF, TGS or WEBM files", name="Pack name")
    async def addpack_zip(
        self, interaction: Interaction, file: discord.Attachment, name: str | None = None
    ) -> None:
        """Import the archive's images as a pack of this server."""
        if not await allowed(self.deps, interaction):
            return
        await interaction.response.defer(ephemeral=True, thinking=True)
        await reply(interaction, await import_zip(self.deps, interaction, file, name))

    @app_commands.command(name="packs", description="List the sticker packs of this server")
    @app_commands.guild_only()
    @app_commands.default_permissions(manage_expressions=True)
    async def packs(self, interaction: Interaction) -> None:
        """Every pack this server sees."""
        if await allowed(self.deps, interaction):
            await self.admin.packs(interaction)

    @app_commands.command(name="removepack", description="Remove a sticker pack of this server")
    @app_commands.guild_only()
    @app_commands.default_permissions(manage_expressions=True)
    async def removepack(self, interaction: Interaction, name: str) -> None:
        """Remove a pack with its stickers."""
        if await allowed(self.deps, interaction):
            await self.admin.removepack(interaction, name)

    @app_commands.command(name="publishpack", description="Make a pack public, or this server's")
    @app_commands.guild_only()
    @app_commands.default_permissions(manage_expressions=True)
    @app_commands.describe(public="true: every server sees it; false: only this server")
    async def publishpack(self, interaction: Interaction, name: str, public: bool = True) -> None:
        """Change who sees a pack (operators only)."""
        if await allowed(self.deps, interaction, operators_only=True):
            await self.admin.publishpack(interaction, name, public)

    @removepack.autocomplete("name")
    @publishpack.autocomplete("name")
    async def pack_name(
        self, interaction: Interaction, current: str
    ) -> list[app_commands.Choice[str]]:
        """Pack names this server sees."""
        packs = await self.admin.pack_names(interaction, current)
        return [
            app_commands.Choice(name=f"{p.title} ({p.name})"[:CHOICE_LIMIT], value=p.name)
            for p in packs
            if len(p.name) <= CHOICE_LIMIT
        ]

    @app_commands.command(name="status", description="Library, backlogs and background jobs")
    @app_commands.default_permissions(manage_expressions=True)
    async def status(self, interaction: Interaction) -> None:
        """The status every bot shows (operators only)."""
        if await allowed(self.deps, interaction, operators_only=True):
            await self.admin.status(interaction)

    # --- signals --------------------------------------------------------------------------

    @commands.Cog.listener()
    async def on_message(self, message: discord.Message) -> None:
        """A sticker of the library sent by a person is a `sent` signal (GUILD_MESSAGES)."""
        if message.author.bot or message.webhook_id is not None or not message.stickers:
            return  # our own posts were recorded as `chosen` already
        svc = self.deps.svc
        find = svc.platform(PLATFORM).sticker_by_unique_id
        kind = "guild" if message.guild is not None else "dm"
        for item in message.stickers:
            sticker_id = await blocking(find, str(item.id))
            if sticker_id is not None:
                key = user_key(message.author)
                await blocking(svc.users.record, key, sticker_id, "sent", "", PLATFORM, kind)
