"""Commands every user has, the `sent` signal, and pack proposals by sending a sticker."""

import logging

from telegram import Message, Sticker, Update
from telegram.constants import ChatType
from telegram.error import TelegramError

from adapters.base import blocking
from adapters.telegram.common import (
    PLATFORM,
    Context,
    Deps,
    effective_message,
    effective_user,
    user_key,
)
from adapters.telegram.packs import SOURCE, import_set

log = logging.getLogger(__name__)

HELP = (
    "I find stickers by meaning. In any chat, type my name and a word:\n"
    "@{bot} happy   ·   @{bot} 🐱   ·   @{bot} (nothing) for your recent ones.\n"
    "The stickers you pick rank higher for you next time.\n\n"
    "/nsfw on|off: show or hide NSFW stickers (off by default)\n"
    "/forgetme: delete your history and settings\n"
    "Send me a sticker here to propose its pack for the library."
)


class UserHandlers:
    """/start, /help, /nsfw, /forgetme, sent stickers and pack proposals."""

    def __init__(self, deps: Deps) -> None:
        self.deps = deps

    async def help(self, update: Update, context: Context) -> None:
        """Explain inline use; /start says the same."""
        await effective_message(update).reply_text(HELP.format(bot=context.bot.username))

    async def nsfw(self, update: Update, context: Context) -> None:
        """`/nsfw on|off` stores the choice; `/nsfw` alone shows it."""
        key = user_key(effective_user(update))
        arg = (context.args or [""])[0].lower()
        if arg in ("on", "off"):
            await blocking(self.deps.svc.users.set_nsfw_opt_in, key, arg == "on")
        elif arg:
            await effective_message(update).reply_text("Use /nsfw on or /nsfw off.")
            return
        on = await blocking(self.deps.svc.users.nsfw_opt_in, key)
        state = "shown" if on else "hidden"
        await effective_message(update).reply_text(f"NSFW stickers are {state} in your results.")

    async def forgetme(self, update: Update, context: Context) -> None:
        """Delete the user's history, profile (with settings) and cached pages."""
        report = await blocking(self.deps.svc.users.forget, user_key(effective_user(update)))
        await effective_message(update).reply_text(
            f"Done: I deleted your {report.interactions} sticker picks and your profile. "
            "Your results are no longer personalized and NSFW stickers are hidden."
        )

    async def sticker(self, update: Update, context: Context) -> None:
        """A sticker in a group is a `sent` signal; in a private chat, a pack proposal."""
        message = effective_message(update)
        if message.sticker is None or message.from_user is None:
            return
        key = user_key(message.from_user)
        if message.chat.type == ChatType.PRIVATE:
            await self._propose(message, message.sticker.set_name, key, context)
        elif not (message.via_bot and message.via_bot.id == context.bot.id):
            # Stickers picked from our inline results already arrived as `chosen`.
            await self._record_sent(message.sticker, key, message.chat.type)

    async def _record_sent(self, sticker: Sticker, key: str, chat_type: str) -> None:
        svc = self.deps.svc
        find = svc.platform(PLATFORM).sticker_by_unique_id
        sticker_id = await blocking(find, sticker.file_unique_id)
        if sticker_id is not None:
            await blocking(svc.users.record, key, sticker_id, "sent", "", PLATFORM, chat_type)

    async def _in_library(self, name: str) -> bool:
        packs = await blocking(self.deps.svc.library.packs)
        return any(p.source == SOURCE and p.name == name for p in packs)

    async def _propose(
        self, message: Message, name: str | None, key: str, context: Context
    ) -> None:
        if not name:
            await message.reply_text("This sticker belongs to no pack, so there is none to add.")
        elif await self._in_library(name):
            await message.reply_text(f"The pack {name} is already in the library.")
        elif self.deps.settings.auto_accept_packs:
            await import_set(self.deps, context.bot, name, key, message)
        elif not await blocking(self.deps.svc.library.propose, SOURCE, name, key):
            await message.reply_text(f"The pack {name} is already waiting for an admin.")
        else:
            await self._notify_admins(context, name, message)
            await message.reply_text(f"Thanks! I asked the admins to add the pack {name}.")

    async def _notify_admins(self, context: Context, name: str, message: Message) -> None:
        who = message.from_user.mention_html() if message.from_user else "someone"
        text = (
            f"{who} proposes the sticker pack "
            f'<a href="https://t.me/addstickers/{name}">{name}</a>.\n/approve {name}'
        )
        for admin in self.deps.settings.admins:
            try:
                await context.bot.send_message(admin, text, parse_mode="HTML")
            except TelegramError as exc:  # an admin who never opened the bot cannot be told
                log.warning("could not notify admin %s: %s", admin, exc)
