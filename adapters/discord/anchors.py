"""What "Find similar stickers" compares with: the sticker or image of a message.

An anchor is referenced in the result buttons' custom_ids: `i<id>` (a library sticker),
`d<id>` (a Discord sticker outside the library: fetched again by id after a restart) or
`h<token>` (an attached image: its bytes stay in memory only, so after a restart or after
MAX_KEPT newer images its buttons ask the user to start over).
"""

import gzip
import hashlib
from collections import OrderedDict
from dataclasses import dataclass

import discord

from adapters.base import blocking
from engine import SearchService, SimilarQuery, UserFacingError

MAX_IMAGE_BYTES = 10 * 1024 * 1024
MAX_KEPT = 256
IMAGE_SUFFIXES = (".png", ".apng", ".gif", ".webp", ".jpg", ".jpeg")
NOTHING_TO_COMPARE = "That message has no sticker or image to compare with."
EXPIRED = "These results have expired; use Find similar stickers on the message again."


@dataclass(frozen=True)
class Anchor:
    """A reference for buttons, and what the engine compares: a sticker id or image bytes."""

    ref: str
    sticker_id: int | None = None
    image: bytes | None = None
    hint: str = ""  # the Discord sticker's name: what a foreign sticker means

    def query(
        self, user: str, offset: int, limit: int, nsfw: bool, space: str | None
    ) -> SimilarQuery:
        """The engine's query for one page."""
        return SimilarQuery(
            user,
            sticker_id=self.sticker_id,
            image=self.image,
            text=self.hint,
            limit=limit,
            offset=offset,
            include_nsfw=nsfw,
            space=space,
        )


def as_importable(data: bytes) -> bytes:
    """Discord's Lottie stickers are plain JSON; the engine reads Lottie as gzipped TGS."""
    return gzip.compress(data, mtime=0) if data.lstrip()[:1] == b"{" else data


def _is_image(attachment: discord.Attachment) -> bool:
    kind = (attachment.content_type or "").split(";")[0]
    return kind.startswith("image/") or attachment.filename.lower().endswith(IMAGE_SUFFIXES)


class Anchors:
    """Finds a message's anchor and keeps attached images for later pages."""

    def __init__(self, svc: SearchService) -> None:
        self.svc = svc
        self._images: OrderedDict[str, tuple[bytes, str]] = OrderedDict()

    async def of_message(self, message: discord.Message) -> Anchor:
        """The first sticker of the message, else its first image attachment."""
        if message.stickers:
            return await self._of_sticker(message.stickers[0])
        image = next((a for a in message.attachments if _is_image(a)), None)
        if image is None:
            raise UserFacingError(NOTHING_TO_COMPARE)
        if image.size > MAX_IMAGE_BYTES:
            raise UserFacingError("That image is too large to compare (10 MB at most).")
        return self._keep(await image.read(), "")

    async def _of_sticker(self, item: discord.StickerItem | discord.Sticker) -> Anchor:
        find = self.svc.platform("discord").sticker_by_unique_id
        known = await blocking(find, str(item.id))
        if known is not None:
            return Anchor(f"i{known}", sticker_id=known)
        data = as_importable(await item.read())
        return Anchor(f"d{item.id}", image=data, hint=item.name)

    def _keep(self, data: bytes, hint: str) -> Anchor:
        token = hashlib.sha256(data).hexdigest()[:16]
        self._images[token] = (data, hint)
        self._images.move_to_end(token)
        while len(self._images) > MAX_KEPT:
            self._images.popitem(last=False)
        return Anchor(f"h{token}", image=data, hint=hint)

    async def resolve(self, ref: str, client: discord.Client) -> Anchor:
        """The anchor a button's reference names (after a restart too, where possible)."""
        kind, value = ref[:1], ref[1:]
        if kind == "i" and value.isdecimal():
            return Anchor(ref, sticker_id=int(value))
        if kind == "d" and value.isdecimal():
            try:
                sticker = await client.fetch_sticker(int(value))
            except discord.NotFound:
                raise UserFacingError("That sticker no longer exists on Discord.") from None
            return await self._of_sticker(sticker)
        if kind == "h" and value in self._images:
            data, hint = self._images[value]
            return Anchor(ref, image=data, hint=hint)
        raise UserFacingError(EXPIRED)
