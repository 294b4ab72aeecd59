"""Give every sticker a Telegram file_id: upload the ones from folders or Discord once."""

import io
import logging
import weakref
from pathlib import Path
from typing import Any

from PIL import Image
from telegram import Bot, InputFile, Sticker
from telegram.error import BadRequest
from telegram.ext import Application

from adapters.base import blocking
from adapters.telegram.common import PLATFORM
from adapters.telegram.settings import TelegramSettings
from engine import MediaError, PendingUpload, PlatformHandle, SearchService

log = logging.getLogger(__name__)
STICKER_SIDE = 512  # Telegram wants one side of a static sticker to be exactly 512 px
NATIVE_FORMATS = {"webp", "tgs", "webm"}  # what sendSticker takes as it is
# Stickers Telegram refused, per library, skipped until the process restarts: without this a
# full batch of refused files would block the queue for good.
_refused: weakref.WeakKeyDictionary[SearchService, set[int]] = weakref.WeakKeyDictionary()


def static_webp(preview_path: str) -> bytes:
    """The sticker's preview frame as a WEBP whose longer side is 512 px."""
    try:
        with Image.open(preview_path) as image:
            frame = image.convert("RGBA")
    except OSError as exc:
        raise MediaError(f"cannot read preview ({exc.__class__.__name__})") from exc
    scale = STICKER_SIDE / max(frame.size)
    size = (max(1, round(frame.width * scale)), max(1, round(frame.height * scale)))
    out = io.BytesIO()
    frame.resize(size, Image.Resampling.LANCZOS).save(out, "WEBP", quality=90)
    return out.getvalue()


def native_file(item: PendingUpload) -> bytes:
    """The original file of a WEBP, TGS or WEBM sticker."""
    try:
        return Path(item.media_path).read_bytes()
    except OSError as exc:
        raise MediaError(f"cannot read media ({exc.strerror})") from exc


async def _send(bot: Bot, chat_id: int, data: bytes, ext: str) -> Sticker:
    message = await bot.send_sticker(
        chat_id, InputFile(data, filename=f"sticker.{ext}"), disable_notification=True
    )
    if message.sticker is None:
        raise BadRequest("the upload did not come back as a sticker")
    return message.sticker


async def upload_one(bot: Bot, chat_id: int, item: PendingUpload) -> Sticker:
    """Upload a sticker as it is if Telegram takes the format, else as a static WEBP."""
    if item.format in NATIVE_FORMATS:
        try:
            return await _send(bot, chat_id, await blocking(native_file, item), item.format)
        except BadRequest as exc:
            # Animated files outside Telegram's limits (size, length, fps) are refused.
            log.info("sticker %s refused as %s: %s", item.sticker_id, item.format, exc.message)
    return await _send(bot, chat_id, await blocking(static_webp, item.preview_path), "webp")


async def upload_pending(
    target: "Application[Any, Any, Any, Any, Any, Any] | Bot",
    svc: SearchService,
    settings: TelegramSettings,
) -> int:
    """Upload one batch of stickers lacking a Telegram file_id; return how many got one."""
    chat_id = settings.storage_chat_id
    if chat_id is None:
        return 0
    bot = target.bot if isinstance(target, Application) else target
    refused = _refused.setdefault(svc, set())
    handles = svc.platform(PLATFORM)
    pending = await blocking(handles.pending_uploads, settings.upload_batch, frozenset(refused))
    uploaded = 0
    for item in pending:
        try:
            sticker = await upload_one(bot, chat_id, item)
        except (BadRequest, MediaError) as exc:  # network errors end the run instead
            log.warning("cannot upload sticker %s: %s", item.sticker_id, exc)
            refused.add(item.sticker_id)
            continue
        handle = PlatformHandle(sticker.file_id, sticker.file_unique_id)
        await blocking(handles.set_handle, item.sticker_id, handle)
        uploaded += 1
    return uploaded
