"""Engine support for chat platforms: NSFW opt-in, Telegram handles, uploads, pack proposals."""

import io
from collections.abc import Iterator
from pathlib import Path

import pytest
from PIL import Image

from engine.errors import InvalidInputError, StickerNotFoundError
from engine.ingest import ImportItem
from engine.models import SearchQuery
from engine.personalize import users_needing_profiles
from engine.service import SearchService
from engine.settings import EngineSettings, SearchSettings, StorageSettings


def _png(seed: int) -> bytes:
    out = io.BytesIO()
    Image.new("RGBA", (16, 16), (seed, 9, 200, 255)).save(out, "PNG")
    return out.getvalue()


@pytest.fixture
def svc(tmp_path: Path) -> Iterator[SearchService]:
    """Three local stickers without Telegram handles."""
    settings = EngineSettings(
        storage=StorageSettings(data_dir=tmp_path), search=SearchSettings(dense=False)
    )
    with SearchService.open(settings) as service:
        items = [ImportItem(f"{i}.png", lambda i=i: _png(i * 50), emoji="🐱") for i in range(3)]
        service.import_pack(items, "p")
        yield service


def test_nsfw_opt_in_persists_and_is_forgotten(svc: SearchService) -> None:
    assert not svc.nsfw_opt_in("tg:1")
    svc.set_nsfw_opt_in("tg:1", True)
    assert svc.nsfw_opt_in("tg:1")
    assert not svc.nsfw_opt_in("tg:2")
    svc.forget_user("tg:1")
    assert not svc.nsfw_opt_in("tg:1")


def test_a_setting_does_not_hide_a_user_from_the_profile_job(svc: SearchService) -> None:
    sticker = svc.pending_uploads(1)[0].sticker_id
    svc.record_interaction("tg:1", sticker, "chosen", "cat")
    svc.set_nsfw_opt_in("tg:1", True)
    assert users_needing_profiles(svc.db) == ["tg:1"]
    svc.update_profiles()
    assert svc.nsfw_opt_in("tg:1"), "recomputing the profile keeps the setting"


def test_pending_uploads_skip_excluded_and_uploaded(svc: SearchService) -> None:
    pending = svc.pending_uploads(10)
    assert len(pending) == svc.upload_backlog() == 3
    assert all(Path(p.media_path).is_file() and Path(p.preview_path).is_file() for p in pending)
    first, second, third = (p.sticker_id for p in pending)
    assert [p.sticker_id for p in svc.pending_uploads(10, frozenset({first}))] == [second, third]
    svc.set_telegram_handles(second, "file-2", "unique-2")
    assert [p.sticker_id for p in svc.pending_uploads(10)] == [first, third]
    assert svc.sticker_by_telegram_unique_id("unique-2") == second
    assert svc.sticker_by_telegram_unique_id("nope") is None


def test_handles_reach_search_hits_and_unique_ids_stay_unique(svc: SearchService) -> None:
    first, second, _ = (p.sticker_id for p in svc.pending_uploads(10))
    svc.search(SearchQuery("u", "cat"))  # a cached ranking must not hide the new handles
    svc.set_telegram_handles(first, "file-a", "same")
    svc.set_telegram_handles(second, "file-b", "same")  # Telegram deduplicated our two files
    hits = {h.id: h.telegram_file_id for h in svc.search(SearchQuery("u", "cat")).hits}
    assert (hits[first], hits[second]) == ("file-a", "file-b")
    assert svc.sticker_by_telegram_unique_id("same") == first
    with pytest.raises(StickerNotFoundError):
        svc.set_telegram_handles(999, "f", "u")


def test_pack_proposals(svc: SearchService) -> None:
    assert svc.propose_pack("telegram", "Cats", "tg:1")
    assert not svc.propose_pack("telegram", "Cats", "tg:2"), "one proposal per pack"
    assert svc.propose_pack("telegram", "Dogs", "tg:2")
    assert [(p.name, p.proposed_by) for p in svc.pack_proposals()] == [
        ("Cats", "tg:1"),
        ("Dogs", "tg:2"),
    ]
    assert svc.resolve_proposal("telegram", "Cats")
    assert not svc.resolve_proposal("telegram", "Cats")
    assert [p.name for p in svc.pack_proposals()] == ["Dogs"]
    with pytest.raises(InvalidInputError):
        svc.propose_pack("myspace", "X", "tg:1")
