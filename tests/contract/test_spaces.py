"""Pack visibility: global packs are seen everywhere, scoped packs only in their own space."""

import io
import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from PIL import Image

from engine.errors import InvalidInputError
from engine.ingest import ImportItem
from engine.service import SearchService
from engine.settings import EngineSettings, SearchSettings, StorageSettings
from engine.types import SearchQuery

GUILD_A, GUILD_B = "dc-guild:1", "dc-guild:2"


def png(seed: int) -> bytes:
    out = io.BytesIO()
    Image.new("RGBA", (8, 8), (seed % 256, seed // 256, 50, 255)).save(out, "PNG")
    return out.getvalue()


def items(prefix: str, emoji: str, n: int, seed: int) -> list[ImportItem]:
    return [
        ImportItem(f"{prefix}{i}.png", lambda i=i: png(seed + i), emoji=emoji) for i in range(n)
    ]


def open_service(data_dir: Path, page_size: int = 50, min_pool: int = 250) -> SearchService:
    search = SearchSettings(dense=False, page_size=page_size, min_pool=min_pool)
    return SearchService.open(
        EngineSettings(storage=StorageSettings(data_dir=data_dir), search=search)
    )


@pytest.fixture
def svc(tmp_path: Path) -> Iterator[SearchService]:
    """Global cats, guild A's cats (title "Secret Society"), guild B's dogs."""
    with open_service(tmp_path) as service:
        service.library.import_items(items("g", "🐱", 3, 0), "public-cats")
        service.library.import_items(
            items("a", "🐱", 2, 100), "a-cats", title="Secret Society", space=GUILD_A
        )
        service.library.import_items(items("b", "🐶", 2, 200), "b-dogs", space=GUILD_B)
        yield service


def packs_of(svc: SearchService, hits: list[int]) -> set[str]:
    by_id = {s.id: s.pack for s in svc.library.stickers()}
    return {by_id[i] for i in hits}


def found(svc: SearchService, text: str, space: str | None, user: str = "u") -> set[str]:
    page = svc.search(SearchQuery(user, text, limit=50, space=space))
    return packs_of(svc, [h.id for h in page.hits])


def test_a_scoped_pack_is_seen_only_in_its_space(svc: SearchService) -> None:
    assert found(svc, "cat", GUILD_A) == {"public-cats", "a-cats"}
    assert found(svc, "cat", GUILD_B) == {"public-cats"}
    assert found(svc, "cat", None) == {"public-cats"}, "no space: global packs only"
    assert found(svc, "dog", GUILD_A) == set()
    assert found(svc, "dog", GUILD_B) == {"b-dogs"}


def test_packs_report_their_space(svc: SearchService) -> None:
    spaces = {p.name: p.space for p in svc.library.packs()}
    assert spaces == {"public-cats": None, "a-cats": GUILD_A, "b-dogs": GUILD_B}
    assert svc.library.packs()[1].to_json()["space"] == GUILD_A


def test_making_a_pack_public_shows_it_everywhere_at_once(svc: SearchService) -> None:
    assert found(svc, "cat", GUILD_B) == {"public-cats"}  # cached now
    svc.library.set_pack_space("a-cats", None)
    assert found(svc, "cat", GUILD_B) == {"public-cats", "a-cats"}
    svc.library.set_pack_space("a-cats", GUILD_A)
    assert found(svc, "cat", GUILD_B) == {"public-cats"}


def test_recent_stickers_of_another_space_stay_hidden(svc: SearchService) -> None:
    [secret] = [s.id for s in svc.library.stickers("a-cats")][:1]
    svc.users.record("u", secret, "chosen", "cat")
    assert [h.id for h in svc.search(SearchQuery("u", "", space=GUILD_A)).hits] == [secret]
    assert svc.search(SearchQuery("u", "", space=GUILD_B)).hits == []


def test_suggestions_do_not_leak_scoped_pack_titles(svc: SearchService) -> None:
    def texts(space: str | None) -> list[str]:
        return [s.text for s in svc.suggest("u", "secr", 10, space=space)]

    assert "secret society" in texts(GUILD_A)
    assert texts(GUILD_B) == [] and texts(None) == []


def test_a_pack_scoped_elsewhere_cannot_be_added_to(svc: SearchService) -> None:
    with pytest.raises(InvalidInputError, match="another server"):
        svc.library.import_items(items("x", "🐱", 1, 300), "a-cats", space=GUILD_B)
    with pytest.raises(InvalidInputError, match="already in the library, public"):
        svc.library.import_items(items("w", "🐱", 1, 600), "public-cats", space=GUILD_A)
    # The same space, or no space (the operator's CLI), adds to it and keeps its scope.
    svc.library.import_items(items("y", "🐱", 1, 400), "a-cats", space=GUILD_A)
    svc.library.import_items(items("z", "🐱", 1, 500), "a-cats")
    assert {p.name: (p.space, p.stickers) for p in svc.library.packs()}["a-cats"] == (GUILD_A, 4)


def test_invalid_spaces_are_refused(svc: SearchService) -> None:
    for bad in ("", "x" * 65, "tab\there"):
        with pytest.raises(InvalidInputError, match="invalid space"):
            svc.search(SearchQuery("u", "cat", space=bad))


def test_the_sticker_lookup_respects_spaces(svc: SearchService) -> None:
    secret = svc.library.stickers("a-cats")[0].id
    hit = svc.sticker(secret, GUILD_A)
    assert hit is not None and hit.pack == "a-cats"
    assert svc.sticker(secret, GUILD_B) is None and svc.sticker(secret) is None
    assert svc.sticker(10**9, GUILD_A) is None


def test_other_spaces_stickers_do_not_crowd_out_recall(tmp_path: Path) -> None:
    """Recall keeps a pool of candidates: another space's many matches must not fill it."""
    with open_service(tmp_path, page_size=5, min_pool=5) as svc:
        svc.library.import_items(items("a", "🐱", 30, 0), "a-cats", space=GUILD_A)
        svc.library.import_items(items("g", "🐱", 8, 100), "public-cats")
        page = svc.search(SearchQuery("u", "cat", limit=50, space=GUILD_B))
        assert page.total == 8 and packs_of(svc, [h.id for h in page.hits]) == {"public-cats"}


def test_libraries_made_before_spaces_upgrade_with_global_packs(tmp_path: Path) -> None:
    with open_service(tmp_path) as svc:
        svc.library.import_items(items("g", "🐱", 2, 0), "old")
    with sqlite3.connect(tmp_path / "library.sqlite3") as db:
        # As such a library was: before spaces, and before migrations (and their job leases).
        db.execute("ALTER TABLE packs DROP COLUMN space")
        db.execute("DROP TABLE alembic_version")
        for table in ("job_leases", "removed_stickers"):
            db.execute(f"DROP TABLE {table}")
        for column in ("text_revision", "meta_revision", "style_revision"):
            db.execute(f"DROP INDEX ix_stickers_{column}")
            db.execute(f"ALTER TABLE stickers DROP COLUMN {column}")
        for column in ("utility_revision", "rebuild_revision", "text_synced_revision"):
            db.execute(f"ALTER TABLE library_state DROP COLUMN {column}")
    with open_service(tmp_path) as svc:
        assert [p.space for p in svc.library.packs()] == [None]
        assert found(svc, "cat", GUILD_A) == {"old"}
        svc.library.import_items(items("a", "🐶", 1, 50), "new", space=GUILD_A)
        assert found(svc, "dog", GUILD_B) == set()


def test_a_slow_vocabulary_keeps_serving_while_it_is_rebuilt(tmp_path: Path) -> None:
    # Every rebuild counts as slow: after a change, the old vocabulary answers at once and a
    # background thread brings in the new phrases.
    search = SearchSettings(dense=False, sync_rebuild_s=0.0)
    settings = EngineSettings(storage=StorageSettings(data_dir=tmp_path), search=search)
    with SearchService.open(settings) as service:
        service.library.import_items(items("g", "🐱", 2, 0), "cats", title="Tabby Club")

        def texts() -> list[str]:
            return [s.text for s in service.suggest("u", "zebra", 10)]

        assert "tabby club" in [s.text for s in service.suggest("u", "tabb", 10)]
        service.library.import_items(items("z", "🦓", 2, 50), "stripes", title="Zebra Crossing")
        assert texts() == []  # the vocabulary counted before the import, served without a wait
        deadline = time.monotonic() + 20
        while "zebra crossing" not in texts() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert "zebra crossing" in texts()
