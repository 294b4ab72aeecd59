"""Engine support for chat platforms: NSFW opt-in, Telegram handles, uploads, pack proposals."""

import io
from collections.abc import Iterator
from pathlib import Path

import pytest
from PIL import Image

from engine.errors import InvalidInputError, StickerNotFoundError
from engine.ingest import ImportItem
from engine.service import SearchService
from engine.settings import EngineSettings, SearchSettings, StorageSettings
from engine.types import PlatformHandle, SearchQuery


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
        service.library.import_items(items, "p")
        yield service


def test_nsfw_opt_in_persists_and_is_forgotten(svc: SearchService) -> None:
    assert not svc.users.nsfw_opt_in("tg:1")
    svc.users.set_nsfw_opt_in("tg:1", True)
    assert svc.users.nsfw_opt_in("tg:1")
    assert not svc.users.nsfw_opt_in("tg:2")
    svc.users.forget("tg:1")
    assert not svc.users.nsfw_opt_in("tg:1")


def test_a_setting_does_not_hide_a_user_from_the_profile_job(svc: SearchService) -> None:
    sticker = svc.platform("telegram").pending_uploads(1)[0].sticker_id
    svc.users.record("tg:1", sticker, "chosen", "cat")
    svc.users.set_nsfw_opt_in("tg:1", True)
    assert svc.crowd.update_profiles() == 1, "the user with a setting still gets a profile"
    assert svc.users.nsfw_opt_in("tg:1"), "recomputing the profile keeps the setting"


def test_pending_uploads_skip_excluded_and_uploaded(svc: SearchService) -> None:
    pending = svc.platform("telegram").pending_uploads(10)
    assert len(pending) == svc.platform("telegram").upload_backlog() == 3
    assert all(Path(p.media_path).is_file() and Path(p.preview_path).is_file() for p in pending)
    first, second, third = (p.sticker_id for p in pending)
    assert [
        p.sticker_id for p in svc.platform("telegram").pending_uploads(10, frozenset({first}))
    ] == [second, third]
    svc.platform("telegram").set_handle(second, PlatformHandle("file-2", "unique-2"))
    assert [p.sticker_id for p in svc.platform("telegram").pending_uploads(10)] == [first, third]
    assert svc.platform("telegram").sticker_by_unique_id("unique-2") == second
    assert svc.platform("telegram").sticker_by_unique_id("nope") is None


def test_handles_reach_search_hits_and_unique_ids_stay_unique(svc: SearchService) -> None:
    first, second, _ = (p.sticker_id for p in svc.platform("telegram").pending_uploads(10))
    svc.search(SearchQuery("u", "cat"))  # a cached ranking must not hide the new handles
    svc.platform("telegram").set_handle(first, PlatformHandle("file-a", "same"))
    svc.platform("telegram").set_handle(
        second, PlatformHandle("file-b", "same")
    )  # Telegram deduplicated our two files
    hits = {h.id: h.telegram_file_id for h in svc.search(SearchQuery("u", "cat")).hits}
    assert (hits[first], hits[second]) == ("file-a", "file-b")
    assert svc.platform("telegram").sticker_by_unique_id("same") == first
    with pytest.raises(StickerNotFoundError):
        svc.platform("telegram").set_handle(999, PlatformHandle("f", "u"))


def test_pack_proposals(svc: SearchService) -> None:
    assert svc.library.propose("telegram", "Cats", "tg:1")
    assert not svc.library.propose("telegram", "Cats", "tg:2"), "one proposal per pack"
    assert svc.library.propose("telegram", "Dogs", "tg:2")
    assert [(p.name, p.proposed_by) for p in svc.library.proposals()] == [
        ("Cats", "tg:1"),
        ("Dogs", "tg:2"),
    ]
    assert svc.library.resolve_proposal("telegram", "Cats")
    assert not svc.library.resolve_proposal("telegram", "Cats")
    assert [p.name for p in svc.library.proposals()] == ["Dogs"]
    with pytest.raises(InvalidInputError):
        svc.library.propose("myspace", "X", "tg:1")


def test_a_caption_is_searchable_and_a_new_one_replaces_it(svc: SearchService) -> None:
    def ids(text: str) -> list[int]:
        return [h.id for h in svc.search(SearchQuery("u", text)).hits]

    item = ImportItem("otto.png", lambda: _png(7), caption="a waving otter ; hello")
    [added] = svc.library.import_items([item], "p").files
    assert ids("otter") == [added.sticker_id] and ids("hello") == [added.sticker_id]
    again = ImportItem("otto.png", lambda: _png(7), caption="a sleeping badger")
    svc.library.import_items([again], "p")
    assert ids("badger") == [added.sticker_id]
    assert ids("otter") == [], "the platform's new words replace the old"
