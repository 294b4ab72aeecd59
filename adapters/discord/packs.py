"""Importing packs from Discord: this server's stickers, a Telegram sticker set, or a zip.

What a server's admin imports is scoped to that server (`dc-guild:<id>`): its members find it,
other servers never see it, until an operator makes it public (/publishpack).
"""

import asyncio
import logging
import tempfile
from collections.abc import Callable
from pathlib import Path

import aiohttp
import discord
import telegram

from adapters.base import blocking
from adapters.discord.anchors import as_importable
from adapters.discord.common import Deps, Interaction, TelegramSource, space_of, user_key
from adapters.telegram import application as tg_application
from adapters.telegram import packs as tg_packs
from engine import (
    ImportItem,
    ImportReport,
    InvalidInputError,
    MediaError,
    SearchService,
    UserFacingError,
    items_from_path,
)

log = logging.getLogger(__name__)
SOURCE = "discord"
DOWNLOAD_CONCURRENCY = 4
PROGRESS_EVERY = 10
MAX_ZIP_BYTES = 50 * 1024 * 1024
EXTENSIONS = {
    discord.StickerFormatType.png: "png",
    discord.StickerFormatType.apng: "png",
    discord.StickerFormatType.gif: "gif",
    discord.StickerFormatType.lottie: "tgs",  # gzipped on the way in: the engine reads TGS
}


def guild_pack_name(guild_id: int) -> str:
    """The pack that holds a server's own stickers."""
    return f"guild-{guild_id}"


class Progress:
    """Download progress shown by editing the deferred reply, every few stickers."""

    def __init__(self, interaction: Interaction, every: int = PROGRESS_EVERY) -> None:
        self.interaction = interaction
        self.every = every
        self._last = 0

    async def progress(self, label: str, done: int, total: int) -> None:
        """Show `label done/total…` now and then (editing is rate limited)."""
        if done - self._last < self.every and done != total:
            return
        self._last = done
        await self.show(f"{label} {done}/{total}…")

    async def show(self, text: str) -> None:
        """Show an intermediate text; progress is best effort."""
        try:
            await self.interaction.edit_original_response(content=text)
        except discord.HTTPException as exc:
            log.debug("progress edit failed: %s", exc)


def _emoji(sticker: discord.GuildSticker) -> str:
    # The related emoji, when Discord gives the glyph itself rather than its name.
    tag = sticker.emoji.strip()
    return tag if tag and not tag.isascii() and len(tag) <= 16 else ""


def caption(sticker: discord.GuildSticker) -> str:
    """A sticker's description and its tags as words (the name already names the file)."""
    # Tags are an emoji's name ("smile"), the glyph itself or the uploader's comma-separated
    # words, depending on the client that uploaded it; glyphs go to the emoji field instead.
    tags = sticker.emoji.strip()
    words = tags if tags.isascii() else ""
    parts = ((sticker.description or "").strip(), words.replace(",", " ").replace("_", " ").strip())
    return " ; ".join(p for p in parts if p)


def _reader(data: bytes | None, error: str) -> Callable[[], bytes]:
    def read() -> bytes:
        if data is None:
            raise MediaError(error)
        return data

    return read


async def _download(sticker: discord.GuildSticker, limit: int) -> ImportItem:
    data: bytes | None = None
    error = ""
    try:
        data = as_importable(await sticker.read())
        if len(data) > limit:
            data, error = None, f"file too large (limit {limit} bytes)"
    except (discord.DiscordException, aiohttp.ClientError) as exc:  # one lost file only
        error = f"download failed ({exc})"
    return ImportItem(
        f"{sticker.name}.{EXTENSIONS.get(sticker.format, 'png')}",
        _reader(data, error),
        emoji=_emoji(sticker),
        discord_sticker_id=str(sticker.id),
        caption=caption(sticker),
    )


async def guild_items(
    stickers: list[discord.GuildSticker], limit: int, progress: Progress
) -> list[ImportItem]:
    """Download a server's stickers (a few at a time), in order."""
    gate = asyncio.Semaphore(DOWNLOAD_CONCURRENCY)
    done = 0

    async def one(sticker: discord.GuildSticker) -> ImportItem:
        nonlocal done
        async with gate:
            item = await _download(sticker, limit)
        done += 1
        await progress.progress("Downloading", done, len(stickers))
        return item

    return list(await asyncio.gather(*(one(s) for s in stickers)))


async def import_guild(deps: Deps, interaction: Interaction, guild: discord.Guild) -> str:
    """Import this server's own stickers into its pack (scoped to the server)."""
    stickers = await guild.fetch_stickers()
    if not stickers:
        raise UserFacingError("This server has no stickers of its own yet.")
    progress = Progress(interaction)
    limit = deps.svc.settings.ingest.max_file_bytes
    items = await guild_items(stickers, limit, progress)
    await progress.show(f"Importing {len(items)} stickers…")
    report = await blocking(
        deps.svc.library.import_items,
        items,
        guild_pack_name(guild.id),
        source=SOURCE,
        title=guild.name,
        added_by=user_key(interaction.user),
        space=space_of(guild.id),
    )
    return tg_packs.summary(report, guild.name)


def _telegram_bot(source: TelegramSource) -> telegram.Bot:
    return telegram.Bot(
        source.token,
        base_url=source.base_url,
        base_file_url=tg_application.file_url(source.base_url),
    )


def _telegram_limit(svc: SearchService, source: TelegramSource) -> int:
    limit = svc.settings.ingest.max_file_bytes
    if source.base_url.startswith(tg_packs.OFFICIAL_API):
        limit = min(limit, tg_packs.OFFICIAL_DOWNLOAD_LIMIT)
    return limit


async def import_telegram(deps: Deps, interaction: Interaction, text: str) -> str:
    """Import a Telegram sticker set by name or link, scoped to this server."""
    if deps.telegram is None:
        raise UserFacingError("Telegram sticker sets need the bot's Telegram token configured.")
    name = tg_packs.parse_set_name(text)
    progress = Progress(interaction)
    async with _telegram_bot(deps.telegram) as bot:
        sticker_set = await tg_packs.fetch_set(bot, name)
        limit = _telegram_limit(deps.svc, deps.telegram)
        items = await tg_packs.download_items(bot, sticker_set.stickers, limit, progress)
    await progress.show(f"Importing {len(items)} stickers…")
    report = await blocking(
        deps.svc.library.import_items,
        items,
        sticker_set.name,
        source=tg_packs.SOURCE,
        title=sticker_set.title,
        added_by=user_key(interaction.user),
        space=space_of(interaction.guild_id),
    )
    return tg_packs.summary(report, sticker_set.title)


def _import_zip(
    svc: SearchService, data: bytes, pack: str, added_by: str, space: str | None
) -> ImportReport:
    with tempfile.TemporaryDirectory(prefix="stickerbot-zip-") as tmp:
        path = Path(tmp) / "upload.zip"
        path.write_bytes(data)
        items = items_from_path(path, svc.settings.ingest.max_file_bytes)
        return svc.library.import_items(items, pack, title=pack, added_by=added_by, space=space)


async def import_zip(
    deps: Deps, interaction: Interaction, file: discord.Attachment, name: str | None
) -> str:
    """Import the stickers of an attached zip as a pack of this server."""
    if not file.filename.lower().endswith(".zip"):
        raise InvalidInputError("Attach a .zip archive of sticker images.")
    if file.size > MAX_ZIP_BYTES:
        raise InvalidInputError(f"The archive is too large (at most {MAX_ZIP_BYTES >> 20} MB).")
    pack = (name or Path(file.filename).stem).strip()
    data = await file.read()
    await Progress(interaction).show(f"Importing {file.filename}…")
    key, space = user_key(interaction.user), space_of(interaction.guild_id)
    report = await blocking(_import_zip, deps.svc, data, pack, key, space)
    return tg_packs.summary(report, pack)
