"""`stickerbot demo`: the bundled sample pack, searched in several languages by two users."""

import json
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import click
from PIL import Image, ImageDraw, ImageFont

from bot.console import bars, progress
from engine import (
    EngineSettings,
    ImportItem,
    SearchQuery,
    SearchService,
    StickerHit,
    StickerInfo,
    items_from_path,
)

QUERIES = (
    ("en", "happy"),
    ("de", "traurig"),
    ("fr", "chat"),
    ("es", "fuego"),
    ("ru", "собака"),
    ("ja", "猫"),
    ("zh", "哭"),
    ("emoji", "😂"),
    ("empty", ""),
)
# Simulated users: each sends stickers of one visual style (labels used only by the demo).
USERS = {"demo:alice": "fluent-3d", "demo:bob": "openmoji-color"}
HISTORY_EMOJI = 8
TOP = 6
THUMB = 96
CJK_FONTS = (
    "/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc",
    "/usr/share/fonts/truetype/droid/DroidSansFallbackFull.ttf",
    "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
)


@dataclass(frozen=True)
class Row:
    """One line of the contact sheet: a user's query and the hits."""

    user: str
    locale: str
    query: str
    hits: list[StickerHit]


def sample_dir() -> Path:
    """The sample pack shipped inside the package."""
    return Path(str(resources.files("engine.data").joinpath("sample")))


def _styles() -> dict[str, str]:
    manifest = sample_dir() / "manifest.jsonl"
    rows = [json.loads(line) for line in manifest.open(encoding="utf-8")]
    return {r["file"]: r["style"] for r in rows}


def _simulate_history(svc: SearchService, styles: dict[str, str]) -> None:
    # Each user sends their style's sticker for the first few emoji of the pack.
    by_emoji: dict[str, list[StickerInfo]] = {}
    for sticker in svc.library.stickers("sample"):
        by_emoji.setdefault(sticker.emoji, []).append(sticker)
    for user, style in USERS.items():
        for emoji in list(by_emoji)[:HISTORY_EMOJI]:
            for sticker in by_emoji[emoji]:
                if styles.get(sticker.file) == style:
                    svc.users.record(user, sticker.id, "sent", platform="demo")


def run_demo(settings: EngineSettings, out: Path) -> list[Row]:
    """Import the sample, simulate two users, search, print and draw the results."""
    styles = _styles()
    with SearchService.open(settings) as svc:
        click.echo(f"library: {settings.data_dir}")
        with bars() as stages:
            report = svc.library.import_items(
                _items(settings),
                "sample",
                title="Emoji sample",
                progress=stages.stage("importing sample"),
                index_progress=stages.stage("indexing"),
            )
        click.echo(f"sample pack: {report.added} added, {report.unchanged} already there")
        with progress("style embeddings") as advance:
            svc.understanding.annotate(progress=advance, only=["style"])
        _simulate_history(svc, styles)
        svc.crowd.update_profiles()
        rows = [
            Row(user, loc, q, svc.search(SearchQuery(user, q, limit=TOP)).hits)
            for user in USERS
            for loc, q in QUERIES
        ]
    for row in rows:
        shown = " ".join(f"{h.emoji or '?'}({styles.get(h.file, '?')})" for h in row.hits)
        click.echo(
            f"{row.user:11s} {row.locale:5s} {row.query or '(empty)':8s} -> {shown or 'nothing'}"
        )
    draw_contact_sheet(rows, out)
    click.echo(f"contact sheet: {out}")
    return rows


def _items(settings: EngineSettings) -> list[ImportItem]:
    return items_from_path(sample_dir() / "manifest.jsonl", settings.ingest.max_file_bytes)


def _font(size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    for path in CJK_FONTS:
        if Path(path).is_file():
            return ImageFont.truetype(path, size)
    return ImageFont.load_default(size)


def _glyph(ch: str, font: ImageFont.FreeTypeFont | ImageFont.ImageFont) -> bytes:
    canvas = Image.new("L", (24, 24))
    ImageDraw.Draw(canvas).text((2, 2), ch, font=font, fill=255)
    return canvas.tobytes()


def _renderable(text: str, font: ImageFont.FreeTypeFont | ImageFont.ImageFont) -> str:
    """Replace characters the font would draw as empty boxes by their code points."""
    missing = _glyph("\u0378", font)  # an unassigned code point: the font's "no glyph" box
    return "".join(
        ch if ch.isascii() or _glyph(ch, font) != missing else f"U+{ord(ch):04X}" for ch in text
    )


def draw_contact_sheet(rows: list[Row], out: Path) -> None:
    """A PNG grid: one row per (user, query), the top hits' previews left to right."""
    label_w, pad = 260, 8
    sheet = Image.new(
        "RGB", (label_w + TOP * (THUMB + pad), len(rows) * (THUMB + pad) + pad), "white"
    )
    draw = ImageDraw.Draw(sheet)
    font = _font(16)
    for r, row in enumerate(rows):
        y = pad + r * (THUMB + pad)
        label = _renderable(f"{row.user[5:]} · {row.locale} · {row.query or '(recent)'}", font)
        draw.text((pad, y + THUMB // 3), label, fill="black", font=font)
        for c, hit in enumerate(row.hits):
            with Image.open(hit.preview_path) as img:
                thumb = img.convert("RGBA")
                thumb.thumbnail((THUMB, THUMB))
                sheet.paste(thumb, (label_w + c * (THUMB + pad), y), thumb)
    out.parent.mkdir(parents=True, exist_ok=True)
    sheet.save(out)
