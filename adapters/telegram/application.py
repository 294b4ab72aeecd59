"""The python-telegram-bot Application: handlers wired to the engine, one error handler."""

import logging
from typing import Any

from telegram import BotCommand, BotCommandScopeChat, InlineQueryResultsButton, Update
from telegram.error import TelegramError
from telegram.ext import (
    AIORateLimiter,
    Application,
    ApplicationBuilder,
    CallbackContext,
    ChosenInlineResultHandler,
    CommandHandler,
    ExtBot,
    InlineQueryHandler,
    MessageHandler,
    filters,
)

from adapters.base import StatusBoard, StatusSource
from adapters.telegram.admin import AdminHandlers
from adapters.telegram.common import Context, Deps
from adapters.telegram.inline import InlineHandlers
from adapters.telegram.settings import TelegramSettings
from adapters.telegram.user import UserHandlers
from engine import SearchService, UserFacingError

log = logging.getLogger(__name__)
AnyDict = dict[Any, Any]
# ExtBot[Any]: the rate limiter's type argument differs with and without aiolimiter installed.
TgApp = Application[
    ExtBot[Any],
    CallbackContext[ExtBot[Any], AnyDict, AnyDict, AnyDict],
    AnyDict,
    AnyDict,
    AnyDict,
    None,
]
TgBuilder = ApplicationBuilder[
    ExtBot[Any],
    CallbackContext[ExtBot[Any], AnyDict, AnyDict, AnyDict],
    AnyDict,
    AnyDict,
    AnyDict,
    None,
]
GENERIC_ERROR = "Sorry, something went wrong. The admins can find the details in the log."
INLINE_ERROR = "Search failed, please try again"  # a button label: 64 characters at most
# Updates are handled concurrently so that a pack import never holds up inline answers.
CONCURRENT_UPDATES = 16
RATE_LIMIT_RETRIES = 2
USER_COMMANDS = [
    BotCommand("help", "how to search stickers"),
    BotCommand("nsfw", "on|off: show or hide NSFW stickers"),
    BotCommand("forgetme", "delete your history and settings"),
]
ADMIN_COMMANDS = [
    BotCommand("addpack", "<set name or t.me/addstickers link>: import a pack"),
    BotCommand("approve", "[set name]: import a proposed pack, or list proposals"),
    BotCommand("removepack", "<name>: remove a pack"),
    BotCommand("packs", "list packs"),
    BotCommand("status", "library, backlogs and jobs"),
]


def file_url(base_url: str) -> str:
    """The Bot API file URL beside `base_url` (…/bot -> …/file/bot)."""
    head, sep, tail = base_url.rpartition("/bot")
    return f"{head}/file/bot{tail}" if sep else f"{base_url.rstrip('/')}/file/bot"


def _rate_limiter() -> AIORateLimiter | None:
    try:
        return AIORateLimiter(max_retries=RATE_LIMIT_RETRIES)
    except RuntimeError:  # python-telegram-bot installed without its rate-limiter extra
        log.warning("aiolimiter is not installed: Telegram requests are not rate limited")
        return None


async def _tell(update: Update, text: str) -> None:
    """Show `text` where the update came from: a reply, or an inline answer's button."""
    if update.inline_query is not None:
        label = INLINE_ERROR if text == GENERIC_ERROR else text[:64]
        button = InlineQueryResultsButton(label, start_parameter="help")
        await update.inline_query.answer([], cache_time=0, is_personal=True, button=button)
    elif update.effective_message is not None:
        await update.effective_message.reply_text(text)


async def on_error(update: object, context: Context) -> None:
    """Log the failure; tell the user only a UserFacingError's message, or that it failed."""
    error = context.error
    if isinstance(error, UserFacingError):
        log.info("refused an update: %s", error)
        text = str(error)
    else:
        log.error("error while handling an update", exc_info=error)
        text = GENERIC_ERROR
    if isinstance(update, Update):
        try:
            await _tell(update, text)
        except TelegramError as exc:  # the chat may be gone; the log has the story
            log.warning("could not report an error to the user: %s", exc)


async def set_commands(app: TgApp, admins: tuple[int, ...]) -> None:
    """Publish the command menu: user commands for all, admin commands in admins' chats."""
    try:
        await app.bot.set_my_commands(USER_COMMANDS)
        for admin in admins:
            await app.bot.set_my_commands(
                USER_COMMANDS + ADMIN_COMMANDS, scope=BotCommandScopeChat(admin)
            )
    except TelegramError as exc:  # a menu is a nicety; the bot works without one
        log.warning("could not set the command menu: %s", exc)


def _add_handlers(app: TgApp, deps: Deps) -> None:
    inline, user, admin = InlineHandlers(deps), UserHandlers(deps), AdminHandlers(deps)
    app.add_handler(InlineQueryHandler(inline.query))
    app.add_handler(ChosenInlineResultHandler(inline.chosen))
    commands = {
        "start": user.help,
        "help": user.help,
        "nsfw": user.nsfw,
        "forgetme": user.forgetme,
        "addpack": admin.addpack,
        "approve": admin.approve,
        "removepack": admin.removepack,
        "packs": admin.packs,
        "status": admin.status,
    }
    for name, callback in commands.items():
        app.add_handler(CommandHandler(name, callback))
    app.add_handler(MessageHandler(filters.Sticker.ALL & filters.UpdateType.MESSAGE, user.sticker))
    app.add_error_handler(on_error)


def build_application(
    svc: SearchService, settings: TelegramSettings, token: str, status: StatusSource | None = None
) -> TgApp:
    """The bot's Application, talking to `settings.base_url` with `token`.

    `status` gives /status its lines; by default the library's own.
    """
    base_url = settings.base_url
    builder: TgBuilder = (
        ApplicationBuilder()
        .token(token)
        .base_url(base_url)
        .base_file_url(file_url(base_url))
        .concurrent_updates(CONCURRENT_UPDATES)
        .job_queue(None)  # jobs run in our own APScheduler (jobs/), not PTB's
    )
    limiter = _rate_limiter()
    if limiter is not None:
        builder = builder.rate_limiter(limiter)

    async def post_init(app: TgApp) -> None:
        await set_commands(app, settings.admins)

    app = builder.post_init(post_init).build()
    _add_handlers(app, Deps(svc, settings, status or StatusBoard(svc)))
    return app
