"""The numbered contact sheet that shows a page of results (autocomplete and buttons show no
images, so one picture of the page, numbered like the buttons, is how the user sees them)."""

import io
import logging
from collections.abc import Sequence
from functools import cache

from PIL import Image, ImageDraw, ImageFont

log = logging.getLogger(__name__)
COLUMNS = 5
CELL = 160  # Discord shows stickers at 160 px
PAD = 8
BADGE = 30
BADGE_FILL = (32, 34, 37, 230)
BADGE_TEXT = (255, 255, 255, 255)
FontType = ImageFont.FreeTypeFont | ImageFont.ImageFont


@cache
def _font() -> FontType:
    return ImageFont.load_default(size=20)


def _thumbnail(path: str) -> Image.Image:
    try:
        with Image.open(path) as image:
            thumb = image.convert("RGBA")
    except OSError as exc:  # a preview removed meanwhile: show an empty cell, not an error
        log.warning("preview %s unreadable: %s", path, exc)
        return Image.new("RGBA", (CELL, CELL), (0, 0, 0, 0))
    thumb.thumbnail((CELL, CELL))
    return thumb


def _badge(draw: ImageDraw.ImageDraw, x: int, y: int, number: int) -> None:
    draw.ellipse((x, y, x + BADGE, y + BADGE), fill=BADGE_FILL)
    draw.text((x + BADGE / 2, y + BADGE / 2), str(number), BADGE_TEXT, _font(), anchor="mm")


def contact_sheet(previews: Sequence[str], first_number: int = 1) -> bytes:
    """A transparent PNG grid of the previews, each numbered in its corner."""
    rows = max(1, -(-len(previews) // COLUMNS))
    columns = min(COLUMNS, max(1, len(previews)))
    step = CELL + PAD
    sheet = Image.new("RGBA", (columns * step + PAD, rows * step + PAD), (0, 0, 0, 0))
    draw = ImageDraw.Draw(sheet)
    for n, path in enumerate(previews):
        x, y = PAD + (n % COLUMNS) * step, PAD + (n // COLUMNS) * step
        thumb = _thumbnail(path)
        sheet.alpha_composite(
            thumb, (x + (CELL - thumb.width) // 2, y + (CELL - thumb.height) // 2)
        )
        _badge(draw, x, y, first_number + n)
    out = io.BytesIO()
    sheet.save(out, "PNG", optimize=False, compress_level=3)
    return out.getvalue()
