"""Admin commands: who may run them, and /packs, /removepack, /publishpack, /status.

Discord hides admin commands from members without Manage Expressions (default_member_permissions),
but does not enforce it for the bot, and discord.py never checks it: every command checks again
here. A server's managers manage the packs of their server; the bot's operators (discord.admins)
also manage public packs, make packs public and see /status.
"""

from adapters.base import blocking
from adapters.discord.common import Deps, Interaction, clip, reply, space_of
from adapters.discord.packs import guild_pack_name
from engine import InvalidInputError, PackInfo, PackNotFoundError

REFUSAL = "Sorry, only members who may manage this server's expressions can do that."
OPERATORS_ONLY = "Sorry, only the bot's operators can do that."
MAX_PACK_CHOICES = 25


def may_manage(deps: Deps, interaction: Interaction) -> bool:
    """Operators anywhere; in a server, members with Manage Expressions there."""
    if deps.is_operator(interaction.user):
        return True
    return interaction.guild_id is not None and interaction.permissions.manage_expressions


async def allowed(deps: Deps, interaction: Interaction, operators_only: bool = False) -> bool:
    """Whether the user may run this; refuse politely (ephemeral) when not."""
    ok = deps.is_operator(interaction.user) if operators_only else may_manage(deps, interaction)
    if not ok:
        await reply(interaction, OPERATORS_ONLY if operators_only else REFUSAL)
    return ok


def visible_packs(packs: list[PackInfo], space: str | None) -> list[PackInfo]:
    """The packs members of `space` see: public ones and the space's own."""
    return [p for p in packs if p.space is None or p.space == space]


def pack_line(pack: PackInfo) -> str:
    """One pack, for /packs."""
    where = "public" if pack.space is None else "this server"
    return f"{pack.name} · {pack.title} · {pack.stickers} stickers · {pack.source} · {where}"


class PackAdmin:
    """The admin commands' bodies; the Cog checks nothing else and calls these."""

    def __init__(self, deps: Deps) -> None:
        self.deps = deps

    async def packs(self, interaction: Interaction) -> None:
        """Every pack this server sees, with its size and visibility."""
        packs = await self._visible(interaction)
        text = "\n".join(pack_line(p) for p in packs) or "The library has no packs here yet."
        await reply(interaction, clip(text))

    async def removepack(self, interaction: Interaction, name: str) -> None:
        """Remove a pack of this server (operators: any pack)."""
        pack = await self._find(interaction, name)
        if pack.space is None and not self.deps.is_operator(interaction.user):
            raise InvalidInputError(f"The pack {name} is public: only the operators remove it.")
        await interaction.response.defer(ephemeral=True, thinking=True)
        removed = await blocking(self.deps.svc.library.remove_pack, pack.name, pack.source)
        await reply(interaction, f"Removed the pack {pack.name} ({removed} stickers).")

    async def publishpack(self, interaction: Interaction, name: str, public: bool) -> None:
        """Make a pack public, or scope it back to this server (operators only)."""
        pack = await self._find(interaction, name)
        space = None if public else space_of(interaction.guild_id)
        await blocking(self.deps.svc.library.set_pack_space, pack.name, space, pack.source)
        where = "public: every server sees it" if public else "seen in this server only"
        await reply(interaction, f"The pack {pack.name} is now {where}.")

    async def status(self, interaction: Interaction) -> None:
        """Library size, backlogs and the background jobs' last runs."""
        await interaction.response.defer(ephemeral=True, thinking=True)
        lines = await blocking(self.deps.status.status_lines)
        await reply(interaction, clip("\n".join(lines)))

    async def pack_names(self, interaction: Interaction, current: str) -> list[PackInfo]:
        """Packs this server sees whose name or title starts with what is typed."""
        typed = current.casefold()
        packs = await self._visible(interaction)
        hits = [p for p in packs if typed in p.name.casefold() or typed in p.title.casefold()]
        own = guild_pack_name(interaction.guild_id or 0)
        hits.sort(key=lambda p: (p.name != own, p.space is None, p.name))
        return hits[:MAX_PACK_CHOICES]

    async def _visible(self, interaction: Interaction) -> list[PackInfo]:
        packs = await blocking(self.deps.svc.library.packs)
        return visible_packs(packs, space_of(interaction.guild_id))

    async def _find(self, interaction: Interaction, name: str) -> PackInfo:
        found = [p for p in await self._visible(interaction) if p.name == name.strip()]
        if not found:
            raise PackNotFoundError(f"No pack named {name!r} here.")
        if len(found) > 1:
            raise InvalidInputError(f"Several packs are named {name!r}; ask the operators.")
        return found[0]
