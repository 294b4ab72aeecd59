"""The result message's buttons: dynamic items whose custom_id holds all they need.

A page of results is an ephemeral message with a numbered contact sheet, one button per sticker
and previous/next buttons. Each custom_id encodes what its press needs (the sticker, the owner,
the query or similar-anchor, the offset), so buttons keep working after a restart: discord.py
rebuilds the item from the custom_id (`DynamicItem`, registered in `setup_hook`).
"""

import re
from dataclasses import dataclass, replace
from typing import Any, Literal, Protocol, cast

import discord
from discord.ui import Button, DynamicItem, View

from adapters.discord.common import Interaction, report_error

PAGE = 10  # stickers per result message: two rows of five buttons, one row to turn pages
COLUMNS = 5
CUSTOM_ID_LIMIT = 100  # Discord's longest custom_id
# "sb:pick:<12-digit sticker id>:<20-digit user id>:" leaves 58 characters for the query.
MAX_QUERY = 56
ListingKind = Literal["find", "like"]
_PICK = re.compile(r"sb:pick:(?P<sticker>\d{1,12}):(?P<owner>\d{1,20}):(?P<query>.*)", re.DOTALL)
_PAGE = re.compile(
    r"sb:(?P<kind>find|like):(?P<offset>\d{1,6}):(?P<owner>\d{1,20}):(?P<value>.*)", re.DOTALL
)


@dataclass(frozen=True)
class Listing:
    """What a result message lists, for whom, from where: a search, or stickers like an anchor.

    `value` is the query text ("find"), or the anchor reference ("like": `i<sticker id>`,
    `d<Discord sticker id>`, or `h<token>` of an image kept in memory).
    """

    kind: ListingKind
    owner: int
    value: str
    offset: int = 0

    def at(self, offset: int) -> "Listing":
        """The same listing at another offset."""
        return replace(self, offset=max(0, offset))

    @property
    def query(self) -> str:
        """The query a pick from this listing is recorded with (similar lists have none)."""
        return self.value if self.kind == "find" else ""


class ResultHandlers(Protocol):
    """What the buttons call; the client carries one as `result_handlers`."""

    async def turn(self, interaction: Interaction, listing: Listing) -> None:
        """Show another page of a listing."""
        ...

    async def pick(self, interaction: Interaction, sticker_id: int, owner: int, query: str) -> None:
        """Post the picked sticker and record the pick."""
        ...


def handlers_of(interaction: Interaction) -> ResultHandlers:
    """The handlers of the client that received the interaction."""
    found = getattr(interaction.client, "result_handlers", None)
    if found is None:
        raise RuntimeError("this client has no result handlers")
    return cast(ResultHandlers, found)


class PickButton(DynamicItem[Button[View]], template=_PICK):
    """Button n of a page: posts that sticker."""

    def __init__(self, label: str, sticker_id: int, owner: int, query: str, row: int = 0) -> None:
        custom_id = f"sb:pick:{sticker_id}:{owner}:{query}"
        super().__init__(
            Button(label=label, style=discord.ButtonStyle.secondary, custom_id=custom_id, row=row)
        )
        self.sticker_id, self.owner, self.query = sticker_id, owner, query

    @classmethod
    async def from_custom_id(
        cls, interaction: Interaction, item: discord.ui.Item[Any], match: re.Match[str], /
    ) -> "PickButton":
        """Rebuild the button from a press (also after a restart)."""
        label = getattr(item, "label", None) or "?"
        return cls(label, int(match["sticker"]), int(match["owner"]), match["query"])

    async def callback(self, interaction: Interaction) -> None:
        """Post the sticker."""
        try:
            await handlers_of(interaction).pick(
                interaction, self.sticker_id, self.owner, self.query
            )
        except Exception as exc:  # a view's own handler would only log it
            await report_error(interaction, exc)


class PageButton(DynamicItem[Button[View]], template=_PAGE):
    """Previous or next page of a listing."""

    def __init__(self, label: str, listing: Listing, disabled: bool = False) -> None:
        kind, value = listing.kind, listing.value
        custom_id = f"sb:{kind}:{listing.offset}:{listing.owner}:{value}"
        button: Button[View] = Button(
            label=label, style=discord.ButtonStyle.primary, custom_id=custom_id, row=2
        )
        button.disabled = disabled
        super().__init__(button)
        self.listing = listing

    @classmethod
    async def from_custom_id(
        cls, interaction: Interaction, item: discord.ui.Item[Any], match: re.Match[str], /
    ) -> "PageButton":
        """Rebuild the button from a press (also after a restart)."""
        kind: ListingKind = "find" if match["kind"] == "find" else "like"
        listing = Listing(kind, int(match["owner"]), match["value"], int(match["offset"]))
        return cls(getattr(item, "label", None) or "?", listing)

    async def callback(self, interaction: Interaction) -> None:
        """Show the page."""
        try:
            await handlers_of(interaction).turn(interaction, self.listing)
        except Exception as exc:  # a view's own handler would only log it
            await report_error(interaction, exc)


def result_view(listing: Listing, sticker_ids: list[int], next_offset: int | None) -> View:
    """Numbered pick buttons, then previous/next when there is more than one page."""
    view = View(timeout=None)
    for n, sticker_id in enumerate(sticker_ids):
        view.add_item(
            PickButton(str(n + 1), sticker_id, listing.owner, listing.query, row=n // COLUMNS)
        )
    if listing.offset > 0 or next_offset is not None:
        view.add_item(
            PageButton("◀ Previous", listing.at(listing.offset - PAGE), listing.offset == 0)
        )
        later = listing.at(next_offset if next_offset is not None else listing.offset)
        view.add_item(PageButton("Next ▶", later, next_offset is None))
    return view
