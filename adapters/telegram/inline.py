"""Inline search (`@bot happy`) and the `chosen` signal of picked results."""

import logging

from telegram import InlineQueryResultCachedSticker, InlineQueryResultsButton, Update

from adapters.base import blocking
from adapters.telegram.common import PLATFORM, Context, Deps, user_key
from engine import SearchQuery, SearchService, StickerHit

log = logging.getLogger(__name__)
PAGE = 50  # Telegram's most results per answer
CACHE_TIME_S = 10  # short: rankings follow each pick
# A page may hold stickers not uploaded yet; read a few more pages to fill the answer.
MAX_PAGES_PER_ANSWER = 4
MAX_OFFSET_DIGITS = 9  # next_offset must stay under 64 bytes


def parse_offset(offset: str) -> int:
    """The ranked-list position an inline `offset` string names (ours are decimal)."""
    if offset.isdecimal() and len(offset) <= MAX_OFFSET_DIGITS:
        return int(offset)
    return 0


def answerable_page(
    svc: SearchService, user: str, text: str, offset: int
) -> tuple[list[StickerHit], int | None]:
    """Up to PAGE hits that have a Telegram file_id, and the offset after them."""
    nsfw = svc.users.nsfw_opt_in(user)
    hits: list[StickerHit] = []
    next_offset: int | None = offset
    for _ in range(MAX_PAGES_PER_ANSWER):
        if next_offset is None or len(hits) >= PAGE:
            break
        query = SearchQuery(user, text, PAGE - len(hits), next_offset, include_nsfw=nsfw)
        page = svc.search(query)
        hits += [h for h in page.hits if h.telegram_file_id]
        next_offset = page.next_offset
    return hits, next_offset


def render(hits: list[StickerHit]) -> list[InlineQueryResultCachedSticker]:
    """Hits as cached-sticker results; the result id is the sticker id."""
    return [
        InlineQueryResultCachedSticker(id=str(h.id), sticker_file_id=h.telegram_file_id or "")
        for h in hits
    ]


class InlineHandlers:
    """Inline queries and chosen inline results."""

    def __init__(self, deps: Deps) -> None:
        self.deps = deps

    async def query(self, update: Update, context: Context) -> None:
        """Answer an inline query with one page of the user's ranking."""
        iq = update.inline_query
        if iq is None:
            return
        offset = parse_offset(iq.offset)
        page = await blocking(
            answerable_page, self.deps.svc, user_key(iq.from_user), iq.query, offset
        )
        hits, next_offset = page
        button = None
        if not hits and offset == 0:
            hint = "No stickers found · help" if iq.query.strip() else "Type a word to search"
            button = InlineQueryResultsButton(hint, start_parameter="help")
        await iq.answer(
            render(hits),
            cache_time=CACHE_TIME_S,
            is_personal=True,  # else Telegram may serve this user's ranking to others
            next_offset=str(next_offset) if next_offset is not None else "",
            button=button,
        )

    async def chosen(self, update: Update, context: Context) -> None:
        """Record a picked result as a `chosen` interaction with its query."""
        result = update.chosen_inline_result
        if result is None or not result.result_id.isdecimal():
            return
        await blocking(
            self.deps.svc.users.record,
            user_key(result.from_user),
            int(result.result_id),
            "chosen",
            result.query,
            PLATFORM,
        )
