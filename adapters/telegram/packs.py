"""Importing a Telegram sticker set: getStickerSet, download every file, import, report."""

import asyncio
import logging
import re
from collections.abc import Callable
from typing import Protocol

from telegram import Bot, Message, Sticker, StickerSet
from telegram.error import BadRequest, TelegramError

from adapters.base import blocking
from adapters.telegram.common import Deps, StatusMessage
from engine import (
    ImportItem,
    ImportReport,
    InvalidInputError,
    MediaError,
    PackNotFoundError,
    UserFacingError,
)

log = logging.getLogger(__name__)
SOURCE = "telegram"
OFFICIAL_API = "https://api.telegram.org/"
OFFICIAL_DOWNLOAD_LIMIT = 20 * 1024 * 1024  # getFile on api.telegram.org stops at 20 MB
DOWNLOAD_CONCURRENCY = 4
PROGRESS_EVERY = 10
SHOWN_FAILURES = 3
_NAME = re.compile(r"[A-Za-z0-9_]{1,64}")
_LINK = re.compile(
    r"(?:https?://)?(?:www\.)?(?:t|telegram)\.me/add(?:stickers|emoji)/([A-Za-z0-9_]{1,64})/?"
    r"|tg://add(?:stickers|emoji)\?set=([A-Za-z0-9_]{1,64})"
)


class ProgressReporter(Protocol):
    """Where download progress goes: a Telegram status message, or another platform's reply."""

    async def progress(self, label: str, done: int, total: int) -> None:
        """Show `label done/total` (as often as the reporter likes)."""
        ...


def parse_set_name(text: str) -> str:
    """A sticker set name from a name or a t.me/addstickers link."""
    text = text.strip()
    link = _LINK.fullmatch(text)
    name = next(g for g in link.groups() if g) if link else text
    if not _NAME.fullmatch(name):
        raise InvalidInputError(
            "Give a sticker set name or a t.me/addstickers/NAME link, e.g. /addpack Animals."
        )
    return name


def download_limit(deps: Deps) -> int:
    """Largest sticker file to download: 20 MB on the official Bot API."""
    limit = deps.svc.settings.ingest.max_file_bytes
    if deps.settings.base_url.startswith(OFFICIAL_API):
        limit = min(limit, OFFICIAL_DOWNLOAD_LIMIT)
    return limit


async def fetch_set(bot: Bot, name: str) -> StickerSet:
    """The sticker set, or a user-facing error when Telegram has none of that name."""
    try:
        return await bot.get_sticker_set(name)
    except BadRequest as exc:
        if "stickerset_invalid" in exc.message.lower():
            raise PackNotFoundError(f"Telegram has no sticker set named {name!r}.") from exc
        raise


def _extension(sticker: Sticker) -> str:
    return "tgs" if sticker.is_animated else "webm" if sticker.is_video else "webp"


def _reader(data: bytes | None, error: str) -> Callable[[], bytes]:
    def read() -> bytes:
        if data is None:
            raise MediaError(error)
        return data

    return read


async def _download(bot: Bot, sticker: Sticker, limit: int) -> ImportItem:
    data: bytes | None = None
    error = ""
    if sticker.file_size is not None and sticker.file_size > limit:
        error = f"file too large ({sticker.file_size} bytes, limit {limit})"
    else:
        try:
            file = await bot.get_file(sticker.file_id)
            data = bytes(await file.download_as_bytearray())
        except TelegramError as exc:  # one lost file must not cost the whole pack
            error = f"download failed ({exc.message})"
    return ImportItem(
        f"{sticker.file_unique_id}.{_extension(sticker)}",
        _reader(data, error),
        emoji=sticker.emoji or "",
        telegram_file_id=sticker.file_id,
        telegram_file_unique_id=sticker.file_unique_id,
    )


async def download_items(
    bot: Bot, stickers: tuple[Sticker, ...], limit: int, status: ProgressReporter
) -> list[ImportItem]:
    """Download every sticker (a few at a time), reporting progress; order is kept."""
    gate = asyncio.Semaphore(DOWNLOAD_CONCURRENCY)
    done = 0

    async def one(sticker: Sticker) -> ImportItem:
        nonlocal done
        async with gate:
            item = await _download(bot, sticker, limit)
        done += 1
        await status.progress("Downloading", done, len(stickers))
        return item

    return list(await asyncio.gather(*(one(s) for s in stickers)))


def _progress_from_thread(
    status: StatusMessage, total: int, loop: asyncio.AbstractEventLoop
) -> Callable[[int, int], None]:
    done = 0

    def progress(advance: int, _total: int) -> None:
        nonlocal done
        done += advance
        # Called from the import thread: the edit must run on the event loop.
        asyncio.run_coroutine_threadsafe(status.progress("Importing", done, total), loop)

    return progress


def summary(report: ImportReport, title: str) -> str:
    """What an import did, for the admin who asked."""
    lines = [
        f"Added “{title}” ({report.pack}): {report.added} new, "
        f"{report.unchanged + report.duplicates} already in the library, "
        f"{len(report.failed)} failed."
    ]
    lines += [f"• {name}: {error}" for name, error in report.failed[:SHOWN_FAILURES]]
    if report.added:
        lines.append(
            "New stickers are searchable by emoji now and get described in the background."
        )
    return "\n".join(lines)


async def _import(deps: Deps, bot: Bot, name: str, added_by: str, status: StatusMessage) -> str:
    sticker_set = await fetch_set(bot, name)
    items = await download_items(bot, sticker_set.stickers, download_limit(deps), status)
    await status.show(f"Importing {len(items)} stickers…")
    report = await blocking(
        deps.svc.library.import_items,
        items,
        sticker_set.name,
        source=SOURCE,
        title=sticker_set.title,
        added_by=added_by,
        progress=_progress_from_thread(status, len(items), asyncio.get_running_loop()),
    )
    await blocking(deps.svc.library.resolve_proposal, SOURCE, sticker_set.name)
    return summary(report, sticker_set.title)


async def import_set(deps: Deps, bot: Bot, name: str, added_by: str, reply_to: Message) -> None:
    """Import a Telegram sticker set, editing one status message as it goes."""
    message = await reply_to.reply_text(f"Fetching sticker set {name}…")
    status = StatusMessage(message, PROGRESS_EVERY)
    try:
        await status.finish(await _import(deps, bot, name, added_by, status))
    except UserFacingError as exc:
        await status.finish(str(exc))
    except Exception:
        await status.finish(f"Importing {name} failed.")
        raise  # the error handler logs the traceback
