"""/sticker and "Find similar stickers": an ephemeral page of results, its buttons, the pick.

Every flow defers first: a search is fast, but the first one after an import rebuilds the
snapshot, and the contact sheet, a similar-image embedding or a GIF conversion can all take
longer than the 3 s Discord allows before the first response.
"""

import io

import discord

from adapters.base import blocking
from adapters.discord.anchors import Anchor, Anchors
from adapters.discord.common import (
    PLATFORM,
    Deps,
    Interaction,
    chat_type,
    reply,
    space_of,
    user_key,
)
from adapters.discord.posting import Poster
from adapters.discord.sheet import contact_sheet
from adapters.discord.views import PAGE, Listing, result_view
from engine import SearchPage, SearchQuery

FOREIGN = "These results belong to someone else: use /sticker to search for yourself."
STALE = "That sticker is no longer available here. Search again with /sticker."
SENT = "Posted. Use /sticker again for another one."


def heading(listing: Listing, page: SearchPage) -> str:
    """The result message's text: what this is, which part of how many, what to do."""
    if not page.hits:
        return _nothing(listing)
    first = listing.offset + 1
    span = f"{first}–{listing.offset + len(page.hits)} of {page.total}"
    if listing.kind == "like":
        what = "Stickers like that one"
    elif listing.value.strip():
        what = f"Stickers for “{listing.value.strip()}”"
    else:
        what = "Your recent stickers"
    return f"{what}: {span}. Pick a number to post it here."


def _nothing(listing: Listing) -> str:
    if listing.kind == "like":
        return "I found no similar stickers."
    if listing.value.strip():
        return f"No stickers found for “{listing.value.strip()}”. Try another word or an emoji."
    return "You have no recent stickers yet: type a word, like /sticker happy."


def allows_nsfw(interaction: Interaction) -> bool:
    """NSFW stickers only where Discord allows them: DMs and age-restricted channels."""
    channel = interaction.channel
    if interaction.guild_id is None:
        return True
    is_nsfw = getattr(channel, "is_nsfw", None)
    return bool(is_nsfw()) if callable(is_nsfw) else False


class Results:
    """The result flows, and the handlers the result buttons call."""

    def __init__(self, deps: Deps) -> None:
        self.deps = deps
        self.anchors = Anchors(deps.svc)
        self.poster = Poster(deps.settings.webhooks, deps.svc.settings.ingest.max_pixels)

    async def search(self, interaction: Interaction, query: str) -> None:
        """`/sticker query`: the first page of the user's ranking."""
        await interaction.response.defer(ephemeral=True, thinking=True)
        await self._show(interaction, Listing("find", interaction.user.id, query.strip()))

    async def similar(self, interaction: Interaction, message: discord.Message) -> None:
        """The context menu: the first page of stickers like the message's sticker or image."""
        await interaction.response.defer(ephemeral=True, thinking=True)
        anchor = await self.anchors.of_message(message)
        await self._show(interaction, Listing("like", interaction.user.id, anchor.ref), anchor)

    async def turn(self, interaction: Interaction, listing: Listing) -> None:
        """Previous or next: the same message shows another page."""
        if await self._owned(interaction, listing.owner):
            await interaction.response.defer()  # a deferred update of the result message
            await self._show(interaction, listing)

    async def pick(self, interaction: Interaction, sticker_id: int, owner: int, query: str) -> None:
        """Post the sticker in the channel, record the pick, and close the result message."""
        if not await self._owned(interaction, owner):
            return
        await interaction.response.defer()  # the lookup may wait for a snapshot rebuild
        svc = self.deps.svc
        hit = await blocking(svc.sticker, sticker_id, space_of(interaction.guild_id))
        if hit is None:
            await reply(interaction, STALE)
            return
        await self.poster.post(interaction, hit)
        key = user_key(interaction.user)
        await blocking(
            svc.users.record, key, hit.id, "chosen", query, PLATFORM, chat_type(interaction)
        )
        await interaction.edit_original_response(content=SENT, attachments=[], view=None)

    async def _owned(self, interaction: Interaction, owner: int) -> bool:
        if interaction.user.id == owner:
            return True
        await reply(interaction, FOREIGN)
        return False

    async def _show(
        self, interaction: Interaction, listing: Listing, anchor: Anchor | None = None
    ) -> None:
        page = await self._page(interaction, listing, anchor)
        if not page.hits:
            await interaction.edit_original_response(
                content=heading(listing, page), attachments=[], view=None
            )
            return
        sheet = await blocking(contact_sheet, [h.preview_path for h in page.hits])
        view = result_view(listing, [h.id for h in page.hits], page.next_offset)
        file = discord.File(io.BytesIO(sheet), filename="stickers.png")
        await interaction.edit_original_response(
            content=heading(listing, page), attachments=[file], view=view
        )

    async def _page(
        self, interaction: Interaction, listing: Listing, anchor: Anchor | None
    ) -> SearchPage:
        svc = self.deps.svc
        key, space = user_key(interaction.user), space_of(interaction.guild_id)
        nsfw = allows_nsfw(interaction) and await blocking(svc.users.nsfw_opt_in, key)
        if listing.kind == "find":
            query = SearchQuery(key, listing.value, PAGE, listing.offset, nsfw, space)
            return await blocking(svc.search, query)
        anchor = anchor or await self.anchors.resolve(listing.value, interaction.client)
        return await blocking(svc.similar, anchor.query(key, listing.offset, PAGE, nsfw, space))
