"""Admin commands: /addpack, /approve, /removepack, /packs, /status."""

from telegram import Update

from adapters.base import blocking
from adapters.telegram.common import (
    Context,
    Deps,
    clip,
    effective_message,
    effective_user,
    user_key,
)
from adapters.telegram.packs import import_set, parse_set_name
from engine import InvalidInputError

REFUSAL = "Sorry, only the bot's admins can do that."


class AdminHandlers:
    """Pack management and status, for the configured admins only."""

    def __init__(self, deps: Deps) -> None:
        self.deps = deps

    async def _allowed(self, update: Update) -> bool:
        if self.deps.is_admin(update.effective_user):
            return True
        await effective_message(update).reply_text(REFUSAL)
        return False

    async def addpack(self, update: Update, context: Context) -> None:
        """`/addpack <name or link>`: import a Telegram sticker set."""
        if not await self._allowed(update):
            return
        name = parse_set_name(" ".join(context.args or []))
        key = user_key(effective_user(update))
        await import_set(self.deps, context.bot, name, key, effective_message(update))

    async def approve(self, update: Update, context: Context) -> None:
        """`/approve <name>` imports a proposed pack; `/approve` lists the proposals."""
        if not await self._allowed(update):
            return
        if context.args:
            await self.addpack(update, context)
            return
        waiting = await blocking(self.deps.svc.library.proposals)
        lines = [f"/approve {p.name}  (by {p.proposed_by})" for p in waiting]
        await effective_message(update).reply_text(
            clip("\n".join(lines) if lines else "No pack proposals are waiting.")
        )

    async def removepack(self, update: Update, context: Context) -> None:
        """`/removepack <name> [source]`: remove a pack and its stickers."""
        if not await self._allowed(update):
            return
        args = context.args or []
        if not 1 <= len(args) <= 2:
            raise InvalidInputError("Use /removepack NAME (or /removepack NAME SOURCE).")
        source = args[1] if len(args) == 2 else None
        removed = await blocking(self.deps.svc.library.remove_pack, args[0], source)
        await effective_message(update).reply_text(
            f"Removed the pack {args[0]} ({removed} stickers)."
        )

    async def packs(self, update: Update, context: Context) -> None:
        """`/packs`: every pack with its size."""
        if not await self._allowed(update):
            return
        packs = await blocking(self.deps.svc.library.packs)
        lines = [f"{p.name} · {p.title} · {p.stickers} stickers · {p.source}" for p in packs]
        await effective_message(update).reply_text(
            clip("\n".join(lines) if lines else "The library has no packs yet.")
        )

    async def status(self, update: Update, context: Context) -> None:
        """`/status`: library size, backlogs and the background jobs' last runs."""
        if not await self._allowed(update):
            return
        lines = await blocking(self.deps.status.status_lines)
        await effective_message(update).reply_text(clip("\n".join(lines)))
