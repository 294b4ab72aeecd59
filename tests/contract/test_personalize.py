"""Personalized ranking: users with different style histories get different top results."""

import io
from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from engine.annotate import AnnotationPipeline, StageResult, StickerImage
from engine.ingest import ImportItem
from engine.service import SearchService
from engine.settings import EngineSettings, PersonalizationSettings, SearchSettings, StorageSettings
from engine.types import SearchQuery
from tests.conftest import internals

EMOJI = ["🐱", "🐶", "🦊", "🐸", "🍕"]
STYLES = {"red": (220, 30, 30, 255), "blue": (30, 30, 220, 255), "green": (30, 200, 30, 255)}


class ColourStyle:
    """A fake style embedder for a known answer: the sticker's colour is its style."""

    source, model, version = "style", "colour", "1"

    def run(self, batch: Sequence[StickerImage]) -> list[StageResult]:
        vectors = [np.array(i.image.getpixel((8, 8))[:3], dtype=np.float32) / 255 for i in batch]
        return [StageResult(style_vector=v) for v in vectors]


def _png(colour: tuple[int, int, int, int], emoji_index: int) -> bytes:
    image = Image.new("RGBA", (16, 16), colour)
    image.putpixel((0, 0), (emoji_index, 0, 0, 255))  # distinct bytes per emoji
    out = io.BytesIO()
    image.save(out, "PNG")
    return out.getvalue()


def _service(
    tmp_path: Path, rule: str, pack_per_style: bool = False, **cfg: float
) -> SearchService:
    settings = EngineSettings(
        storage=StorageSettings(data_dir=tmp_path / rule),
        search=SearchSettings(dense=False),
        personalization=PersonalizationSettings(rule=rule, **cfg),  # type: ignore[arg-type]
    )
    svc = SearchService.open(settings)
    for style, colour in STYLES.items():
        items = [
            ImportItem(f"{style}-{n}.png", lambda c=colour, n=n: _png(c, n), emoji=e)
            for n, e in enumerate(EMOJI)
        ]
        svc.library.import_items(items, style if pack_per_style else "zoo", title="zoo")
    core = internals(svc)  # a custom stage: the surface runs only the configured ones
    AnnotationPipeline(core.db, core.media, [ColourStyle()], core.style_index).run()
    return svc


@pytest.fixture(params=["nearest", "similarity", "knn", "persrv"])
def svc(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[SearchService]:
    """A zoo of 5 emoji x 3 colour styles, with style vectors, under each ranking rule."""
    service = _service(tmp_path, request.param)
    yield service
    service.close()


def _style_of(svc: SearchService, hit_file: str) -> str:
    return hit_file.split("-", maxsplit=1)[0]


def _send_history(svc: SearchService, user: str, style: str, emoji: list[str]) -> None:
    for e in emoji:
        hits = svc.search(SearchQuery("setup", e, limit=10)).hits
        sticker = next(h for h in hits if _style_of(svc, h.file) == style)
        svc.users.record(user, sticker.id, "sent")


def test_users_with_disjoint_styles_get_different_top_results(svc: SearchService) -> None:
    _send_history(svc, "tg:red", "red", EMOJI[:3])
    _send_history(svc, "tg:blue", "blue", EMOJI[:3])
    assert svc.crowd.update_profiles() == 2
    for query in ("frog", "pizza"):  # emoji never in either history
        red = svc.search(SearchQuery("tg:red", query, limit=3)).hits
        blue = svc.search(SearchQuery("tg:blue", query, limit=3)).hits
        assert _style_of(svc, red[0].file) == "red"
        assert _style_of(svc, blue[0].file) == "blue"
        # relevance first: every hit is still the queried emoji
        assert {h.emoji for h in red} == {h.emoji for h in blue} and len(
            {h.emoji for h in red}
        ) == 1


def test_short_history_falls_back_to_global_ranking(svc: SearchService) -> None:
    global_ids = [h.id for h in svc.search(SearchQuery("nobody", "frog", limit=3)).hits]
    _send_history(svc, "tg:new", "blue", EMOJI[:1])  # below min_history
    svc.crowd.update_profiles()
    assert [h.id for h in svc.search(SearchQuery("tg:new", "frog", limit=3)).hits] == global_ids


def test_profile_update_invalidates_cached_pages(svc: SearchService) -> None:
    _send_history(svc, "tg:u", "red", EMOJI[:3])
    svc.crowd.update_profiles()
    assert _style_of(svc, svc.search(SearchQuery("tg:u", "frog", limit=1)).hits[0].file) == "red"
    for _ in range(3):  # the user's taste moves on: many recent green stickers
        _send_history(svc, "tg:u", "green", EMOJI[:4])
    svc.crowd.update_profiles()
    assert _style_of(svc, svc.search(SearchQuery("tg:u", "frog", limit=1)).hits[0].file) == "green"
    assert svc.crowd.update_profiles() == 0  # nothing new: no recomputation


def test_a_noisy_history_keeps_its_style(svc: SearchService) -> None:
    for _ in range(3):  # nine red picks ...
        _send_history(svc, "tg:noisy", "red", EMOJI[:3])
    _send_history(svc, "tg:noisy", "blue", EMOJI[:1])  # ... and one blue
    svc.crowd.update_profiles()
    for query in ("frog", "pizza"):
        top = svc.search(SearchQuery("tg:noisy", query, limit=3)).hits
        assert _style_of(svc, top[0].file) == "red"


def test_a_user_with_two_styles_gets_both(tmp_path: Path) -> None:
    svc = _service(tmp_path, "nearest")
    try:
        _send_history(svc, "tg:two", "red", EMOJI[:3])
        _send_history(svc, "tg:two", "blue", EMOJI[:3])
        svc.crowd.update_profiles()
        for query in ("frog", "pizza"):
            top = svc.search(SearchQuery("tg:two", query, limit=3)).hits
            assert {_style_of(svc, h.file) for h in top[:2]} == {"red", "blue"}
    finally:
        svc.close()


def test_pack_affinity_alone_ranks_the_sent_pack_first(tmp_path: Path) -> None:
    # No style signal at all (beta 0): only the packs the user sent from can tell.
    svc = _service(tmp_path, "nearest", pack_per_style=True, beta=0.0, pack_weight=0.3)
    try:
        _send_history(svc, "tg:green", "green", EMOJI[:3])
        svc.crowd.update_profiles()
        for query in ("frog", "pizza"):
            hits = svc.search(SearchQuery("tg:green", query, limit=3)).hits
            assert hits[0].pack == "green"
            assert len({h.emoji for h in hits}) == 1  # still only the queried emoji
    finally:
        svc.close()
