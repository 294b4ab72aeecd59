"""End to end through Telegram: an admin adds a pack, the annotation job runs, two users search
and pick, and their next searches rank by their own styles."""

import io
from collections.abc import Iterator
from pathlib import Path

import pytest
from PIL import Image, ImageDraw

from engine.service import SearchService
from engine.settings import EngineSettings, SearchSettings, StorageSettings, UnderstandingSettings
from jobs.tasks import annotate_job, profiles_job
from tests.adapters.test_telegram import (  # noqa: F401 - fixtures are used by name
    ADMIN,
    ALICE,
    BOB,
    Bot,
    BotFactory,
    api,
    make_bot,
    result_ids,
)

ANIMALS = {"🐶": "dog", "🐱": "cat", "🦊": "fox", "🐸": "frog"}
STYLES = {
    "warm": ((245, 130, 40, 255), (110, 40, 0, 255)),
    "cool": ((70, 150, 245, 255), (10, 30, 110, 255)),
}


def art(n: int, fill: tuple[int, ...], line: tuple[int, ...]) -> bytes:
    """A 512 px WEBP: a shape per animal, in one style's palette and outline."""
    image = Image.new("RGBA", (512, 512), (0, 0, 0, 0))
    draw = ImageDraw.Draw(image)
    box = (80 + 10 * n, 80, 432 - 10 * n, 432)
    if n % 2:
        draw.rounded_rectangle(box, 60 + 20 * n, fill=fill, outline=line, width=18)
    else:
        draw.ellipse(box, fill=fill, outline=line, width=18)
    draw.ellipse((200, 200, 240 + 15 * n, 240), fill=line)
    out = io.BytesIO()
    image.save(out, "WEBP", lossless=True)
    return out.getvalue()


@pytest.fixture
def svc(tmp_path: Path) -> Iterator[SearchService]:
    """A library whose annotation job computes real style embeddings (EfficientNet-Lite0)."""
    settings = EngineSettings(
        storage=StorageSettings(data_dir=tmp_path),
        search=SearchSettings(dense=False),
        understanding=UnderstandingSettings(stages=("style",)),
    )
    with SearchService.open(settings) as service:
        yield service


def _style_by_sticker(bot: Bot, served: dict[str, str]) -> dict[int, str]:
    stickers = bot.svc.library.stickers()
    return {s.id: served[s.telegram_file_unique_id or ""] for s in stickers}


async def _pick(bot: Bot, user: int, word: str, style: str, styles: dict[int, str]) -> None:
    ids = result_ids(await bot.inline(user, word))
    choice = next(i for i in ids if styles[i] == style)
    await bot.send(bot.updates.chosen(user, str(choice), word))


async def test_admin_adds_pack_users_pick_and_rankings_follow_their_styles(
    make_bot: BotFactory,  # noqa: F811
) -> None:
    async with make_bot() as bot:
        stickers = [
            (art(n, *STYLES[style]), "webp", emoji)
            for n, emoji in enumerate(ANIMALS)
            for style in STYLES
        ]
        served = bot.api.add_sticker_set("Zoo", "Zoo in two styles", stickers)["stickers"]
        order = [style for _ in ANIMALS for style in STYLES]
        unique_style = {s["file_unique_id"]: st for s, st in zip(served, order, strict=True)}
        texts = await bot.command(ADMIN, "/addpack Zoo")
        assert texts[-1].startswith("Added “Zoo in two styles” (Zoo): 8 new")
        summary = await annotate_job(bot.svc)
        assert summary.startswith("8 stickers annotated")
        styles = _style_by_sticker(bot, unique_style)
        for word in ("dog", "cat", "fox"):
            await _pick(bot, ALICE, word, "warm", styles)
            await _pick(bot, BOB, word, "cool", styles)
        assert await profiles_job(bot.svc) == "2 user profiles updated"
        alice = result_ids(await bot.inline(ALICE, "frog"))
        bob = result_ids(await bot.inline(BOB, "frog"))
        assert len(alice) == len(bob) == 2
        assert (styles[alice[0]], styles[bob[0]]) == ("warm", "cool")
