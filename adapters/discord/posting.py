"""Posting a picked sticker into the channel: as the guild's own sticker, or as an image.

Interaction replies and webhook messages cannot carry stickers, so a sticker of this guild is
posted by the bot as a channel message with "sent by @user". Anything else is an image
attachment (animation kept, see `engine.postable_media`): through a channel webhook under the
user's name and avatar when the bot may manage webhooks there, else by the bot, "sent by @user".
"""

import io
import logging

import discord

from adapters.base import blocking
from adapters.discord.common import Interaction
from engine import PostableMedia, StickerHit, UserFacingError, postable_media

log = logging.getLogger(__name__)
WEBHOOK_NAME = "stickerbot"
NO_MENTIONS = discord.AllowedMentions.none()  # "sent by @user" must not ping anyone
WebhookChannel = discord.TextChannel | discord.VoiceChannel | discord.StageChannel
WEBHOOK_PARENTS = (discord.TextChannel, discord.VoiceChannel, discord.StageChannel)


class Webhooks:
    """The bot's own webhook per channel, found or created once and then remembered."""

    def __init__(self) -> None:
        self._by_channel: dict[int, discord.Webhook] = {}

    async def get(self, channel: WebhookChannel, me: discord.abc.User) -> discord.Webhook:
        """This channel's webhook made by the bot, creating it on first use."""
        if channel.id not in self._by_channel:
            found = [w for w in await channel.webhooks() if w.user and w.user.id == me.id]
            hook = found[0] if found else await channel.create_webhook(name=WEBHOOK_NAME)
            self._by_channel[channel.id] = hook
        return self._by_channel[channel.id]

    def forget(self, channel_id: int) -> None:
        """Drop a webhook that stopped working (deleted by someone)."""
        self._by_channel.pop(channel_id, None)


def sent_by(user: discord.abc.User, note: str = "") -> str:
    """The line that credits the user when the bot posts for them."""
    return f"-# sent by {user.mention}" + (f" {note}" if note else "")


def own_sticker(interaction: Interaction, hit: StickerHit) -> discord.GuildSticker | None:
    """The hit as a sticker of this very guild, which the bot may post as a sticker."""
    guild = interaction.guild
    if guild is None or not hit.discord_sticker_id:
        return None
    wanted = int(hit.discord_sticker_id)
    return next((s for s in guild.stickers if s.id == wanted), None)


def webhook_target(channel: object) -> tuple[WebhookChannel, discord.Thread | None] | None:
    """The channel whose webhooks can post here, and the thread to post in, if any."""
    if isinstance(channel, WEBHOOK_PARENTS):
        return channel, None
    if isinstance(channel, discord.Thread) and isinstance(channel.parent, discord.TextChannel):
        return channel.parent, channel
    return None


class Poster:
    """Posts picked stickers; one per client (it remembers the channels' webhooks)."""

    def __init__(self, use_webhooks: bool, max_pixels: int) -> None:
        self.use_webhooks = use_webhooks
        self.max_pixels = max_pixels
        self.webhooks = Webhooks()

    async def post(self, interaction: Interaction, hit: StickerHit) -> str:
        """Post the sticker where the interaction happened; return how ("sticker", ...)."""
        channel = interaction.channel
        if not isinstance(channel, discord.abc.Messageable):
            raise UserFacingError("I cannot post in this kind of channel.")
        sticker = own_sticker(interaction, hit)
        if sticker is not None:
            _check_can_send(interaction, files=False)
            await channel.send(
                sent_by(interaction.user), stickers=[sticker], allowed_mentions=NO_MENTIONS
            )
            return "sticker"
        media = await blocking(
            postable_media,
            hit.media_path,
            hit.preview_path,
            hit.format,
            interaction.filesize_limit,
            self.max_pixels,
        )
        if await self._via_webhook(interaction, media):
            return "webhook"
        _check_can_send(interaction, files=True)
        await channel.send(
            sent_by(interaction.user, media.note), file=_file(media), allowed_mentions=NO_MENTIONS
        )
        return "attachment"

    async def _via_webhook(self, interaction: Interaction, media: PostableMedia) -> bool:
        target = webhook_target(interaction.channel)
        me = interaction.client.user
        if not (self.use_webhooks and interaction.app_permissions.manage_webhooks):
            return False
        if target is None or me is None:
            return False
        parent, thread = target
        try:
            hook = await self.webhooks.get(parent, me)
            await hook.send(
                media.note,
                file=_file(media),
                username=interaction.user.display_name,
                avatar_url=interaction.user.display_avatar.url,
                allowed_mentions=NO_MENTIONS,
                thread=thread or discord.utils.MISSING,
            )
        except discord.HTTPException as exc:  # deleted meanwhile, or a name Discord refuses
            log.warning("webhook post failed in channel %s, posting as the bot: %s", parent.id, exc)
            self.webhooks.forget(parent.id)
            return False
        return True


def _file(media: PostableMedia) -> discord.File:
    return discord.File(io.BytesIO(media.data), filename=media.filename)


def _check_can_send(interaction: Interaction, files: bool) -> None:
    perms = interaction.app_permissions
    if interaction.guild_id is None:
        return  # in DMs the bot may always answer
    in_thread = isinstance(interaction.channel, discord.Thread)
    may_send = perms.send_messages_in_threads if in_thread else perms.send_messages
    if not may_send or (files and not perms.attach_files):
        need = "Send Messages and Attach Files" if files else "Send Messages"
        raise UserFacingError(f"I may not post in this channel: I need {need} here.")
