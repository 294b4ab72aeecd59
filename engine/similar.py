"""Stickers that look like a given one: style neighbours, plus content neighbours when known.

Style is the centred style embedding (`engine.personalize.StyleMatrix`), compared in memory with
every sticker that has one. Content is what the anchor means: for a library sticker its emoji
(BM25) and its document's text vector; for a foreign image only a text hint, such as a Discord
sticker's name, when the caller has one. Both are scaled to [0, 1] and mixed.
"""

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from PIL import Image
from sqlalchemy import select

from engine.errors import InvalidInputError
from engine.imaging import shrink_to_fit
from engine.index import Snapshot
from engine.media import PREVIEW_MAX_SIDE, content_hash, decode_media
from engine.recall import Candidate, fuse_weighted
from engine.schema import Sticker
from engine.storage import Database
from engine.styles import StyleMatrix
from engine.types import MAX_PAGE, MAX_QUERY_CHARS, SimilarQuery

STYLE_WEIGHT = 0.6  # "looks alike" is mostly style; content keeps a cat a cat
CONTENT_WEIGHT = 0.4
MIN_STYLE_COSINE = 0.0  # centred cosines below 0 look less alike than the library average
Vector = npt.NDArray[np.float32]


@dataclass(frozen=True)
class Anchor:
    """What the results must look like: the library sticker it is (if any) and its image."""

    sticker_id: int | None
    ref: str  # a stable key for the page cache: the sticker id or the image's hash
    image: Image.Image | None = None  # the frame to embed when no stored style is at hand


def validate_similar(query: SimilarQuery) -> None:
    """Exactly one of sticker id and image; paging as in search."""
    if (query.sticker_id is None) == (query.image is None):
        raise InvalidInputError("give either a sticker id or an image")
    if query.image is not None and not query.image:
        raise InvalidInputError("the image is empty")
    if len(query.text) > MAX_QUERY_CHARS:
        raise InvalidInputError(f"text too long (at most {MAX_QUERY_CHARS} characters)")
    if not 1 <= query.limit <= MAX_PAGE or query.offset < 0:
        raise InvalidInputError(f"limit must be 1-{MAX_PAGE} and offset at least 0")


def resolve_anchor(db: Database, query: SimilarQuery, max_pixels: int) -> Anchor:
    """The library sticker an image is (by content hash), else the decoded image itself."""
    if query.sticker_id is not None:
        return Anchor(query.sticker_id, f"id:{query.sticker_id}")
    assert query.image is not None
    digest = content_hash(query.image)
    with db.session() as s:
        found = s.scalar(select(Sticker.id).where(Sticker.content_hash == digest))
    if found is not None:
        return Anchor(int(found), f"id:{found}")
    frame = decode_media(query.image, max_pixels).frame
    # The same size as the previews the style stage embeds.
    return Anchor(None, f"sha:{digest}", shrink_to_fit(frame, PREVIEW_MAX_SIDE))


def preview_image(path: str) -> Image.Image:
    """A stored preview as RGBA, read fully (the file may go away after)."""
    with Image.open(path) as img:
        return img.convert("RGBA")


def style_neighbours(styles: StyleMatrix, vector: Vector) -> list[tuple[int, float]]:
    """(id, cosine) of every sticker with a style embedding, above the library average."""
    if not len(styles):
        return []
    ids, sims = styles.similarities(vector)
    keep = np.flatnonzero(sims > MIN_STYLE_COSINE)
    return [(int(ids[j]), float(sims[j])) for j in keep]


def anchor_style(styles: StyleMatrix, sticker_id: int | None) -> Vector | None:
    """The stored, centred style vector of a library sticker, if it has one."""
    if sticker_id is None:
        return None
    found, vectors = styles.rows([sticker_id])
    return vectors[0] if found else None


def mix(
    style: list[tuple[int, float]], content: list[Candidate], exclude: int | None
) -> list[Candidate]:
    """STYLE_WEIGHT x style cosine + CONTENT_WEIGHT x normalised content score, best first."""
    top = max((c.score for c in content), default=0.0)
    scores: dict[int, float] = {i: STYLE_WEIGHT * s for i, s in style}
    if top > 0:
        for c in content:
            scores[c.sticker_id] = scores.get(c.sticker_id, 0.0) + CONTENT_WEIGHT * c.score / top
    if exclude is not None:
        scores.pop(exclude, None)  # the anchor is not its own neighbour
    ranked = sorted(scores.items(), key=lambda kv: (-kv[1], kv[0]))
    return [Candidate(i, s) for i, s in ranked if s > 0]


def anchor_content(
    snapshot: Snapshot, sticker_id: int, dense: list[tuple[int, float]], pool: int
) -> list[Candidate]:
    """Stickers that mean what a library sticker means: its emoji and keywords, its text's kin."""
    meta = snapshot.meta.get(sticker_id)
    doc = snapshot.documents.get(sticker_id)
    words = " ".join(
        t for t in (meta.emoji if meta else "", doc.dense_keywords if doc else "") if t
    )
    lexical = snapshot.bm25.top(words[:MAX_QUERY_CHARS], pool) if words else []
    return fuse_weighted(lexical, dense, 0.5)
