"""Library on a real database: import, dedupe, packs, interactions and the revision counter.

The `db` fixture is parametrized by database, so the same tests run against PostgreSQL: a
cluster the tests start (Debian's package), or $STICKERBOT_TEST_POSTGRES_URL (the tables are
dropped before and after each test).
"""

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from PIL import Image
from sqlalchemy import event, func, select

from engine import personalize
from engine.errors import InvalidInputError, MediaError, PackNotFoundError, StickerNotFoundError
from engine.ingest import ImportItem
from engine.library import Library
from engine.media import MediaStore, content_hash
from engine.personalize import Profile
from engine.schema import Base, Interaction, Pack, Sticker, UserProfile
from engine.settings import IngestSettings
from engine.storage import Database, sqlite_url
from engine.users import set_nsfw_opt_in
from tests.postgres_server import reset_database

ImageMaker = Callable[..., bytes]
SQLITE = "sqlite"  # stands for a fresh SQLite file under tmp_path


DATABASES = [pytest.param(SQLITE, id="sqlite"), pytest.param("postgresql", id="postgresql")]


@pytest.fixture(params=DATABASES)
def db(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Database]:
    shared = request.param != SQLITE
    url: str = request.getfixturevalue("postgres_url") if shared else SQLITE
    if shared:
        reset_database(url)
    else:
        url = sqlite_url(tmp_path)
    database = Database(url)
    yield database
    database.dispose()
    if shared:
        reset_database(url)


@pytest.fixture
def media(tmp_path: Path) -> MediaStore:
    return MediaStore(tmp_path / "media-root")


@pytest.fixture
def library(db: Database, media: MediaStore) -> Library:
    return Library(db, media, IngestSettings())


def item(name: str, data: bytes, **kwargs: str) -> ImportItem:
    return ImportItem(name, lambda: data, **kwargs)


def failing_item(name: str, error: Exception) -> ImportItem:
    def read() -> bytes:
        raise error

    return ImportItem(name, read)


def stickers(db: Database) -> list[Sticker]:
    with db.session() as s:
        return list(s.scalars(select(Sticker).order_by(Sticker.id)))


def count(db: Database, model: type[Base]) -> int:
    with db.session() as s:
        return int(s.scalar(select(func.count()).select_from(model)) or 0)


@pytest.fixture
def three_images(make_png: ImageMaker, make_webp: ImageMaker) -> list[bytes]:
    return [
        make_png((255, 0, 0, 255), (40, 30)),
        make_png((0, 255, 0, 128), (20, 20)),
        make_webp((0, 0, 255, 255), (64, 32)),
    ]


def import_three(library: Library, images: list[bytes], pack: str = "animals") -> list[int]:
    report = library.import_items(
        pack, [item(f"{i}.img", data, emoji="😀") for i, data in enumerate(images)]
    )
    assert report.added == 3
    return report.sticker_ids


class TestImport:
    def test_import_png_and_webp(
        self, library: Library, db: Database, media: MediaStore, three_images: list[bytes]
    ) -> None:
        items = [
            item("red.png", three_images[0], emoji="😀"),
            item("green.png", three_images[1]),
            item("blue.webp", three_images[2], emoji="🐱", telegram_file_id="tg-1"),
        ]
        report = library.import_items("animals", items, title="Animals", added_by="tg:1")

        assert (report.pack, report.added, report.unchanged, report.duplicates) == (
            "animals",
            3,
            0,
            0,
        )
        assert report.failed == []
        rows = stickers(db)
        assert [r.id for r in rows] == sorted(report.sticker_ids)
        by_name = {r.original_name: r for r in rows}
        assert set(by_name) == {"red.png", "green.png", "blue.webp"}
        blue = by_name["blue.webp"]
        assert (blue.format, blue.width, blue.height, blue.frame_count) == ("webp", 64, 32, 1)
        assert blue.emoji == "🐱"
        assert blue.telegram_file_id == "tg-1"
        assert blue.content_hash == content_hash(three_images[2])
        assert blue.size_bytes == len(three_images[2])
        assert by_name["red.png"].format == "png"
        for row, data in ((by_name["red.png"], three_images[0]), (blue, three_images[2])):
            assert media.path(row.media_path).read_bytes() == data
            with Image.open(media.path(row.preview_path)) as preview:
                assert preview.format == "PNG"
                assert preview.size == (row.width, row.height)

    def test_pack_listing(self, library: Library, three_images: list[bytes]) -> None:
        import_three(library, three_images, "one")
        library.import_items("two", [], title="Second", added_by="alice")
        packs = library.packs()
        assert [(p.name, p.source, p.stickers) for p in packs] == [
            ("one", "local", 3),
            ("two", "local", 0),
        ]
        assert packs[0].title == "one"  # the name stands in for a missing title
        assert packs[1].title == "Second"
        assert packs[1].added_by == "alice"

    def test_reimport_is_idempotent(
        self, library: Library, db: Database, three_images: list[bytes]
    ) -> None:
        first_ids = import_three(library, three_images)
        items = [item(f"{i}.img", data) for i, data in enumerate(three_images)]
        report = library.import_items("animals", items)
        assert (report.added, report.unchanged, report.duplicates) == (0, 3, 0)
        assert report.sticker_ids == first_ids
        assert count(db, Sticker) == 3
        assert count(db, Pack) == 1

    def test_same_bytes_in_one_batch(
        self, library: Library, db: Database, make_png: ImageMaker
    ) -> None:
        data = make_png()
        report = library.import_items("p", [item("a.png", data), item("copy.png", data)])
        assert (report.added, report.unchanged) == (1, 1)
        assert report.sticker_ids[0] == report.sticker_ids[1]
        assert count(db, Sticker) == 1

    def test_same_bytes_in_another_pack_merges_handles(
        self, library: Library, db: Database, make_png: ImageMaker
    ) -> None:
        data = make_png((9, 9, 9, 255))
        local = library.import_items("local-pack", [item("a.png", data)])
        report = library.import_items(
            "tg-pack",
            [
                item(
                    "file.webp",
                    data,
                    emoji="🐶",
                    telegram_file_id="FILE",
                    telegram_file_unique_id="UNIQUE",
                )
            ],
            source="telegram",
        )
        assert (report.added, report.unchanged, report.duplicates) == (0, 0, 1)
        assert report.sticker_ids == local.sticker_ids
        discord = library.import_items(
            "dc-pack", [item("x.png", data, discord_sticker_id="DISCORD")], source="discord"
        )
        assert discord.duplicates == 1

        (row,) = stickers(db)
        assert row.telegram_file_id == "FILE"
        assert row.telegram_file_unique_id == "UNIQUE"
        assert row.discord_sticker_id == "DISCORD"
        assert row.emoji == "🐶"  # learnt because the first import had none
        with db.session() as s:
            assert s.scalar(select(Pack.name).where(Pack.id == row.pack_id)) == "local-pack"

    def test_merge_keeps_existing_emoji(
        self, library: Library, db: Database, make_png: ImageMaker
    ) -> None:
        data = make_png()
        library.import_items("a", [item("a.png", data, emoji="😀")])
        library.import_items("b", [item("b.png", data, emoji="😢")])
        assert stickers(db)[0].emoji == "😀"

    def test_corrupt_item_reported_while_others_import(
        self,
        library: Library,
        db: Database,
        media: MediaStore,
        three_images: list[bytes],
        make_png: ImageMaker,
    ) -> None:
        truncated = make_png(size=(64, 64))[:60]
        items = [
            item("good-1.png", three_images[0]),
            item("broken.png", truncated),
            item("garbage.png", b"not an image"),
            failing_item("too-big.png", MediaError("file too large")),
            failing_item("line 3", InvalidInputError("bad manifest row")),
            item("huge.png", make_png(size=(300, 300))),
            item("good-2.webp", three_images[2]),
        ]
        small_limits = Library(db, media, IngestSettings(max_pixels=200 * 200))
        report = small_limits.import_items("mixed", items)

        assert report.added == 2
        failed = dict(report.failed)
        assert set(failed) == {"broken.png", "garbage.png", "too-big.png", "line 3", "huge.png"}
        assert "too large" in failed["huge.png"]
        assert "internal error" not in " ".join(failed.values())
        assert sorted(r.original_name for r in stickers(db)) == ["good-1.png", "good-2.webp"]
        # Nothing of the failed files was written to the media store.
        stored = sorted(
            p.relative_to(media.root).as_posix() for p in media.root.rglob("*") if p.is_file()
        )
        good = sorted(r.media_path for r in stickers(db)) + sorted(
            r.preview_path for r in stickers(db)
        )
        assert stored == sorted(good)
        assert not any(content_hash(truncated) in path for path in stored)

    def test_corrupt_video_reported_and_rest_imports(
        self, library: Library, three_images: list[bytes]
    ) -> None:
        bad = item("a.webm", b"\x1a\x45\xdf\xa3" + b"\x00" * 20)
        report = library.import_items("p", [bad, item("ok.png", three_images[0])])
        assert report.added == 1
        assert [name for name, _ in report.failed] == ["a.webm"]
        assert "video sticker" in report.failed[0][1]

    @pytest.mark.parametrize("name", ["", "   ", "x" * 129, "bad\nname"])
    def test_invalid_pack_name(self, library: Library, db: Database, name: str) -> None:
        with pytest.raises(InvalidInputError):
            library.import_items(name, [])
        assert count(db, Pack) == 0

    def test_unknown_source(self, library: Library) -> None:
        with pytest.raises(InvalidInputError):
            library.import_items("p", [], source="myspace")

    def test_progress_callback(self, library: Library, three_images: list[bytes]) -> None:
        calls: list[tuple[int, int]] = []
        library.import_items(
            "p",
            [item(str(i), d) for i, d in enumerate(three_images)],
            progress=lambda a, t: calls.append((a, t)),
        )
        assert calls == [(3, 3)]


class TestRevision:
    def test_starts_at_zero(self, db: Database) -> None:
        assert db.revision() == 0

    def test_bumped_by_import_and_removal(
        self, library: Library, db: Database, three_images: list[bytes]
    ) -> None:
        before = db.revision()
        import_three(library, three_images)
        after_import = db.revision()
        assert after_import > before
        library.remove_pack("animals")
        assert db.revision() > after_import

    def test_not_bumped_by_interactions(
        self, library: Library, db: Database, three_images: list[bytes]
    ) -> None:
        ids = import_three(library, three_images)
        revision = db.revision()
        library.record_interaction("tg:1", ids[0], "chosen")
        assert db.revision() == revision


class TestRemovePack:
    def test_deletes_stickers_and_media(
        self,
        library: Library,
        db: Database,
        media: MediaStore,
        three_images: list[bytes],
        make_png: ImageMaker,
    ) -> None:
        ids = import_three(library, three_images, "doomed")
        kept = library.import_items("kept", [item("k.png", make_png((7, 7, 7, 255)))])
        paths = [
            media.path(p)
            for r in stickers(db)
            if r.id in ids
            for p in (r.media_path, r.preview_path)
        ]
        assert len(paths) == 6
        assert all(p.exists() for p in paths)

        removed = library.remove_pack("doomed")

        assert sorted(removed) == sorted(ids)
        assert [r.id for r in stickers(db)] == kept.sticker_ids
        assert [p.name for p in library.packs()] == ["kept"]
        assert not any(p.exists() for p in paths)
        survivor = stickers(db)[0]
        assert media.path(survivor.media_path).exists()

    def test_removes_interactions_of_its_stickers(
        self, library: Library, db: Database, three_images: list[bytes]
    ) -> None:
        ids = import_three(library, three_images)
        library.record_interaction("tg:1", ids[0], "sent")
        library.remove_pack("animals")
        assert count(db, Interaction) == 0
        assert library.recent_stickers("tg:1", 10) == []

    def test_unknown_pack(self, library: Library) -> None:
        with pytest.raises(PackNotFoundError):
            library.remove_pack("nope")

    def test_same_name_in_two_sources(self, library: Library, make_png: ImageMaker) -> None:
        library.import_items("cats", [item("a.png", make_png((1, 0, 0, 255)))], source="local")
        library.import_items("cats", [item("b.png", make_png((2, 0, 0, 255)))], source="telegram")
        with pytest.raises(InvalidInputError):
            library.remove_pack("cats")
        assert len(library.remove_pack("cats", source="telegram")) == 1
        assert [(p.name, p.source) for p in library.packs()] == [("cats", "local")]
        with pytest.raises(PackNotFoundError):
            library.remove_pack("cats", source="discord")

    def test_reimport_after_removal(
        self, library: Library, db: Database, three_images: list[bytes]
    ) -> None:
        import_three(library, three_images)
        library.remove_pack("animals")
        ids = import_three(library, three_images)
        assert count(db, Sticker) == 3
        assert sorted(r.id for r in stickers(db)) == sorted(ids)


class TestInteractions:
    def test_record_returns_id(
        self, library: Library, db: Database, three_images: list[bytes]
    ) -> None:
        ids = import_three(library, three_images)
        first = library.record_interaction(
            "tg:1", ids[0], "chosen", query="cat", platform="telegram"
        )
        second = library.record_interaction("tg:1", ids[1], "sent")
        assert second != first
        with db.session() as s:
            row = s.get(Interaction, first)
            assert row is not None
            assert (row.user_key, row.sticker_id, row.kind, row.query, row.platform) == (
                "tg:1",
                ids[0],
                "chosen",
                "cat",
                "telegram",
            )

    def test_long_query_is_truncated(
        self, library: Library, db: Database, three_images: list[bytes]
    ) -> None:
        ids = import_three(library, three_images)
        row_id = library.record_interaction("u", ids[0], "chosen", query="q" * 1000)
        with db.session() as s:
            row = s.get(Interaction, row_id)
            assert row is not None
            assert len(row.query) == 256

    @pytest.mark.parametrize("kind", ["liked", "", "CHOSEN"])
    def test_invalid_kind(
        self, library: Library, db: Database, three_images: list[bytes], kind: str
    ) -> None:
        ids = import_three(library, three_images)
        with pytest.raises(InvalidInputError):
            library.record_interaction("tg:1", ids[0], kind)  # type: ignore[arg-type]
        assert count(db, Interaction) == 0

    def test_unknown_sticker(self, library: Library, db: Database) -> None:
        with pytest.raises(StickerNotFoundError):
            library.record_interaction("tg:1", 12345, "chosen")
        assert count(db, Interaction) == 0

    @pytest.mark.parametrize("user", ["", "x" * 65, "tab\there"])
    def test_invalid_user(self, library: Library, three_images: list[bytes], user: str) -> None:
        ids = import_three(library, three_images)
        with pytest.raises(InvalidInputError):
            library.record_interaction(user, ids[0], "chosen")

    def test_recent_stickers_order(self, library: Library, three_images: list[bytes]) -> None:
        a, b, c = import_three(library, three_images)
        for sticker in (a, b, c):
            library.record_interaction("tg:1", sticker, "chosen")
        assert library.recent_stickers("tg:1", 10) == [c, b, a]
        library.record_interaction("tg:1", a, "sent")
        assert library.recent_stickers("tg:1", 10) == [a, c, b]
        assert library.recent_stickers("tg:1", 2) == [a, c]

    def test_recent_stickers_per_user(self, library: Library, three_images: list[bytes]) -> None:
        a, b, _ = import_three(library, three_images)
        library.record_interaction("tg:1", a, "chosen")
        library.record_interaction("tg:2", b, "chosen")
        assert library.recent_stickers("tg:1", 10) == [a]
        assert library.recent_stickers("tg:2", 10) == [b]
        assert library.recent_stickers("nobody", 10) == []

    def test_forget_user(self, library: Library, db: Database, three_images: list[bytes]) -> None:
        a, b, _ = import_three(library, three_images)
        library.record_interaction("tg:1", a, "chosen")
        library.record_interaction("tg:1", b, "sent")
        library.record_interaction("tg:2", a, "chosen")
        with db.session() as s:
            s.add(UserProfile(user_key="tg:1", history_size=2))

        report = library.forget_user("tg:1")

        assert (report.user, report.interactions, report.profile) == ("tg:1", 2, True)
        assert library.recent_stickers("tg:1", 10) == []
        assert library.recent_stickers("tg:2", 10) == [a]
        with db.session() as s:
            assert s.get(UserProfile, "tg:1") is None
        again = library.forget_user("tg:1")
        assert (again.interactions, again.profile) == (0, False)

    def test_forget_invalid_user(self, library: Library) -> None:
        with pytest.raises(InvalidInputError):
            library.forget_user("")


def stored_files(media: MediaStore) -> list[str]:
    if not media.root.exists():
        return []
    return sorted(
        p.relative_to(media.root).as_posix() for p in media.root.rglob("*") if p.is_file()
    )


def expected_files(db: Database) -> list[str]:
    return sorted(path for r in stickers(db) for path in (r.media_path, r.preview_path))


class TestPlatformHandleConflicts:
    def test_conflicting_handle_on_duplicate_does_not_abort_import(
        self, library: Library, db: Database, make_png: ImageMaker
    ) -> None:
        owner, plain, other = (make_png((i, 0, 0, 255)) for i in (1, 2, 3))
        (owner_id,) = library.import_items(
            "tg", [item("owner", owner, telegram_file_unique_id="U", telegram_file_id="F1")]
        ).sticker_ids
        (plain_id,) = library.import_items("local", [item("plain", plain)]).sticker_ids

        report = library.import_items(
            "again",
            [
                item("plain-again", plain, telegram_file_unique_id="U", telegram_file_id="F2"),
                item("other", other),
            ],
        )

        assert (report.added, report.unchanged, report.duplicates) == (1, 0, 1)
        assert report.failed == []
        assert report.sticker_ids[0] == plain_id
        by_name = {r.original_name: r for r in stickers(db)}
        assert set(by_name) == {"owner", "plain", "other"}
        assert report.sticker_ids[1] == by_name["other"].id
        # The unique id stays with its owner; the duplicate neither steals it nor its file id.
        assert (by_name["owner"].id, by_name["owner"].telegram_file_unique_id) == (owner_id, "U")
        assert by_name["owner"].telegram_file_id == "F1"
        assert by_name["plain"].telegram_file_unique_id is None
        assert by_name["plain"].telegram_file_id is None

    def test_reencoded_sticker_in_same_pack_is_unchanged(
        self, library: Library, db: Database, media: MediaStore, make_png: ImageMaker
    ) -> None:
        original, reencoded = make_png((5, 5, 5, 255)), make_png((5, 5, 5, 255), (48, 48))
        first = library.import_items(
            "tg",
            [item("a.webp", original, telegram_file_unique_id="U", telegram_file_id="OLD")],
            source="telegram",
        )
        report = library.import_items(
            "tg",
            [item("a.webp", reencoded, telegram_file_unique_id="U", telegram_file_id="NEW")],
            source="telegram",
        )

        assert (report.added, report.unchanged, report.duplicates) == (0, 1, 0)
        assert report.failed == []
        assert report.sticker_ids == first.sticker_ids
        (row,) = stickers(db)
        assert row.content_hash == content_hash(original)
        assert row.telegram_file_id == "NEW"  # Telegram's file id may change; keep the latest
        assert stored_files(media) == expected_files(db)
        assert not any(content_hash(reencoded) in path for path in stored_files(media))

    def test_reencoded_sticker_in_another_pack_is_a_duplicate(
        self, library: Library, db: Database, make_png: ImageMaker
    ) -> None:
        original, reencoded = make_png((6, 6, 6, 255)), make_png((6, 6, 6, 255), (48, 48))
        first = library.import_items("one", [item("a", original, telegram_file_unique_id="U")])
        report = library.import_items(
            "two", [item("b", reencoded, telegram_file_unique_id="U", emoji="🐱")]
        )
        assert (report.added, report.unchanged, report.duplicates) == (0, 0, 1)
        assert report.sticker_ids == first.sticker_ids
        (row,) = stickers(db)
        assert row.emoji == "🐱"  # learnt because the first import had none
        with db.session() as s:
            assert s.scalar(select(Pack.name).where(Pack.id == row.pack_id)) == "one"

    def test_same_unique_id_twice_in_one_batch(
        self, library: Library, db: Database, media: MediaStore, make_png: ImageMaker
    ) -> None:
        first, second = make_png((1, 0, 0, 255)), make_png((2, 0, 0, 255))
        report = library.import_items(
            "p",
            [
                item("first", first, telegram_file_unique_id="U"),
                item("second", second, telegram_file_unique_id="U"),
            ],
        )
        assert (report.added, report.unchanged, report.duplicates) == (1, 1, 0)
        assert report.failed == []
        assert report.sticker_ids[0] == report.sticker_ids[1]
        assert [r.original_name for r in stickers(db)] == ["first"]
        assert stored_files(media) == expected_files(db)
        assert not any(content_hash(second) in path for path in stored_files(media))

    def test_hash_match_keeps_its_own_unique_id(
        self, library: Library, db: Database, make_png: ImageMaker
    ) -> None:
        data, other = make_png((3, 3, 3, 255)), make_png((4, 4, 4, 255))
        library.import_items("p", [item("a", data, telegram_file_unique_id="U1")])
        report = library.import_items("p", [item("a2", data, telegram_file_unique_id="U2")])
        assert (report.added, report.unchanged) == (0, 1)
        (row,) = stickers(db)
        assert row.telegram_file_unique_id == "U1"
        # U2 was not taken, so a sticker that really has it can still be imported.
        fresh = library.import_items("p", [item("b", other, telegram_file_unique_id="U2")])
        assert (fresh.added, fresh.failed) == (1, [])
        assert [r.telegram_file_unique_id for r in stickers(db)] == ["U1", "U2"]

    def test_unknown_unique_id_is_learnt_by_hash_match(
        self, library: Library, db: Database, make_png: ImageMaker
    ) -> None:
        data, reencoded = make_png((8, 8, 8, 255)), make_png((8, 8, 8, 255), (40, 40))
        library.import_items("p", [item("a", data)])
        library.import_items("p", [item("a", data, telegram_file_unique_id="U")])
        report = library.import_items("p", [item("a", reencoded, telegram_file_unique_id="U")])
        assert (report.added, report.unchanged) == (0, 1)
        assert [r.telegram_file_unique_id for r in stickers(db)] == ["U"]


class TestMediaWrites:
    def test_rejected_row_writes_no_media(
        self,
        library: Library,
        db: Database,
        media: MediaStore,
        make_png: ImageMaker,
        monkeypatch: pytest.MonkeyPatch,
    ) -> None:
        good, bad = make_png((1, 2, 3, 255)), make_png((3, 2, 1, 255))
        written: list[str] = []
        put = media.put

        def spy(kind: str, digest: str, ext: str, data: bytes) -> str:
            written.append(digest)
            return put(kind, digest, ext, data)

        def reject(_mapper: object, _connection: object, target: Sticker) -> None:
            if target.original_name == "bad":
                raise RuntimeError("row rejected by the database")

        monkeypatch.setattr(media, "put", spy)
        event.listen(Sticker, "before_insert", reject)
        try:
            report = library.import_items("p", [item("bad", bad), item("good", good)])
        finally:
            event.remove(Sticker, "before_insert", reject)

        assert report.added == 1
        assert [name for name, _ in report.failed] == ["bad"]
        assert "internal error" in report.failed[0][1]
        assert content_hash(good) in written
        assert content_hash(bad) not in written  # the flush failed before any file was written
        assert [r.original_name for r in stickers(db)] == ["good"]
        assert stored_files(media) == expected_files(db)

    def test_failed_preview_write_removes_the_media_file(
        self,
        library: Library,
        db: Database,
        media: MediaStore,
        make_png: ImageMaker,
        monkeypatch: pytest.MonkeyPatch,
    ) -> None:
        good, bad = make_png((1, 1, 2, 255)), make_png((2, 1, 1, 255))
        put = media.put

        def failing_put(kind: str, digest: str, ext: str, data: bytes) -> str:
            if kind == "previews" and digest == content_hash(bad):
                raise OSError(28, "No space left on device")
            return put(kind, digest, ext, data)

        monkeypatch.setattr(media, "put", failing_put)
        report = library.import_items("p", [item("bad", bad), item("good", good)])

        assert report.added == 1
        assert [name for name, _ in report.failed] == ["bad"]
        assert [r.original_name for r in stickers(db)] == ["good"]
        assert stored_files(media) == expected_files(db)
        assert not any(content_hash(bad) in path for path in stored_files(media))

        monkeypatch.undo()
        retry = library.import_items("p", [item("bad", bad)])
        assert (retry.added, retry.failed) == (1, [])
        assert stored_files(media) == expected_files(db)


class TestProfileReader:
    def test_each_saved_version_is_decoded_once_and_a_forgotten_user_has_none(
        self, db: Database, library: Library, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        decoded: list[str] = []
        real = personalize.load_profile

        def counting(database: Database, user: str) -> tuple[Profile | None, str]:
            decoded.append(user)
            return real(database, user)

        monkeypatch.setattr(personalize, "load_profile", counting)
        reader = personalize.ProfileReader(db)
        assert reader.load("tg:1") == (None, "")
        set_nsfw_opt_in(db, "tg:1", True)  # a settings-only row holds no profile
        assert reader.load("tg:1")[0] is None

        first = Profile(((1, 1.0), (2, 0.5)), ((0.1, 0.2),), (0.3,))
        personalize.save_profile(db, "tg:1", first, 2)
        got, stamp = reader.load("tg:1")
        assert (got, reader.load("tg:1")) == (first, (first, stamp))
        assert decoded.count("tg:1") == 2  # the settings-only row once, the profile once

        second = Profile(((3, 1.0),))
        personalize.save_profile(db, "tg:1", second, 1)
        got, newer = reader.load("tg:1")
        assert got == second and newer != stamp

        library.forget_user("tg:1")
        assert reader.load("tg:1") == (None, "")
