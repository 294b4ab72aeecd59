"""What every Telegram handler shares: injected services, user keys, admin checks, progress."""

import asyncio
import logging
from dataclasses import dataclass

from telegram import Message, Update, User
from telegram.error import BadRequest, TelegramError
from telegram.ext import ContextTypes

from adapters.base import StatusSource
from adapters.telegram.settings import TelegramSettings
from engine import SearchService

log = logging.getLogger(__name__)
Context = ContextTypes.DEFAULT_TYPE
PLATFORM = "telegram"
MESSAGE_LIMIT = 4096  # Telegram's longest text message


@dataclass(frozen=True)
class Deps:
    """The services a handler needs, injected once when the application is built."""

    svc: SearchService
    settings: TelegramSettings
    status: StatusSource

    def is_admin(self, user: User | None) -> bool:
        """Whether the user is one of the configured admins."""
        return user is not None and user.id in self.settings.admins


def user_key(user: User) -> str:
    """The engine's key for a Telegram user."""
    return f"tg:{user.id}"


def clip(text: str, limit: int = MESSAGE_LIMIT) -> str:
    """Text cut to fit one Telegram message."""
    return text if len(text) <= limit else text[: limit - 1] + "…"


class StatusMessage:
    """One message edited in place to report a long task's progress."""

    def __init__(self, message: Message, every: int) -> None:
        self.message = message
        self.every = every
        self._last: dict[str, int] = {}
        self._text = message.text or ""
        self._done = False
        self._lock = asyncio.Lock()

    async def progress(self, label: str, done: int, total: int) -> None:
        """Show `label done/total`, at most once every `every` steps of that label."""
        if done - self._last.get(label, 0) < self.every and done != total:
            return
        self._last[label] = done
        await self._edit(f"{label} {done}/{total}…", final=False)

    async def show(self, text: str) -> None:
        """Show an intermediate text."""
        await self._edit(text, final=False)

    async def finish(self, text: str) -> None:
        """Show the final text; later progress updates are dropped."""
        await self._edit(text, final=True)

    async def _edit(self, text: str, final: bool) -> None:
        async with self._lock:
            if self._done or text == self._text:
                return
            self._done = final
            self._text = text
            try:
                await self.message.edit_text(clip(text))
            except BadRequest as exc:
                # "message is not modified" or deleted by the user: progress is best effort.
                log.debug("progress edit failed: %s", exc)
            except TelegramError:
                log.warning("progress edit failed", exc_info=True)


def effective_user(update: Update) -> User:
    """The update's sender; commands and inline queries always have one."""
    user = update.effective_user
    if user is None:
        raise ValueError("update has no sender")
    return user


def effective_message(update: Update) -> Message:
    """The update's message; message handlers always have one."""
    message = update.effective_message
    if message is None:
        raise ValueError("update has no message")
    return message
