"""Import sources: folders, zip archives, manifest JSONL files and single files."""

import json
import zipfile
from collections.abc import Callable
from pathlib import Path

import pytest

from engine.errors import InvalidInputError, MediaError
from engine.ingest import ImportItem, items_from_path

ImageMaker = Callable[..., bytes]
MAX_BYTES = 1_000_000


def names(items: list[ImportItem]) -> list[str]:
    return [item.name for item in items]


class TestFolder:
    def test_media_files_sorted_hidden_and_other_files_skipped(
        self, tmp_path: Path, make_png: ImageMaker, make_webp: ImageMaker
    ) -> None:
        (tmp_path / "sub").mkdir()
        (tmp_path / ".cache").mkdir()
        (tmp_path / "b.png").write_bytes(make_png((2, 0, 0, 255)))
        (tmp_path / "a.webp").write_bytes(make_webp())
        (tmp_path / "sub" / "c.gif").write_bytes(b"GIF89a")
        (tmp_path / "C.JPG").write_bytes(b"\xff\xd8\xff")
        (tmp_path / ".hidden.png").write_bytes(make_png())
        (tmp_path / ".cache" / "d.png").write_bytes(make_png())
        (tmp_path / "notes.txt").write_text("not a sticker")
        (tmp_path / "manifest.json").write_text("{}")

        items = items_from_path(tmp_path, MAX_BYTES)

        assert names(items) == ["C.JPG", "a.webp", "b.png", "sub/c.gif"]

    def test_read_returns_file_bytes(self, tmp_path: Path, make_png: ImageMaker) -> None:
        data = make_png()
        (tmp_path / "x.png").write_bytes(data)
        (item,) = items_from_path(tmp_path, MAX_BYTES)
        assert item.read() == data
        assert item.emoji == ""
        assert item.telegram_file_id is None

    def test_read_is_lazy_and_enforces_max_bytes(self, tmp_path: Path) -> None:
        (tmp_path / "big.png").write_bytes(b"\x89PNG" + b"\x00" * 200)
        (tmp_path / "small.png").write_bytes(b"\x89PNG")
        big, small = items_from_path(tmp_path, max_bytes=100)
        with pytest.raises(MediaError, match="too large"):
            big.read()
        assert small.read() == b"\x89PNG"

    def test_file_removed_after_listing(self, tmp_path: Path) -> None:
        path = tmp_path / "gone.png"
        path.write_bytes(b"x")
        (item,) = items_from_path(tmp_path, MAX_BYTES)
        path.unlink()
        with pytest.raises(MediaError):
            item.read()

    def test_empty_folder(self, tmp_path: Path) -> None:
        with pytest.raises(InvalidInputError):
            items_from_path(tmp_path, MAX_BYTES)

    def test_folder_without_media(self, tmp_path: Path) -> None:
        (tmp_path / "readme.md").write_text("hi")
        (tmp_path / ".secret.png").write_bytes(b"x")
        with pytest.raises(InvalidInputError):
            items_from_path(tmp_path, MAX_BYTES)


def test_nonexistent_path(tmp_path: Path) -> None:
    with pytest.raises(InvalidInputError, match="does not exist"):
        items_from_path(tmp_path / "missing", MAX_BYTES)


def test_single_file(tmp_path: Path, make_png: ImageMaker) -> None:
    data = make_png()
    path = tmp_path / "one.png"
    path.write_bytes(data)
    (item,) = items_from_path(path, MAX_BYTES)
    assert item.name == "one.png"
    assert item.read() == data


class TestZip:
    def make_zip(self, path: Path, members: dict[str, bytes]) -> Path:
        with zipfile.ZipFile(path, "w") as archive:
            for name, data in members.items():
                archive.writestr(name, data)
        return path

    def test_members(self, tmp_path: Path, make_png: ImageMaker, make_webp: ImageMaker) -> None:
        png, webp = make_png(), make_webp()
        archive = self.make_zip(
            tmp_path / "pack.zip",
            {
                "z.webp": webp,
                "dir/a.png": png,
                ".hidden.png": png,
                "__MACOSX/._a.png": b"resource fork",
                "readme.txt": b"hello",
                "empty/": b"",
            },
        )
        items = items_from_path(archive, MAX_BYTES)
        assert names(items) == ["dir/a.png", "z.webp"]
        assert items[0].read() == png
        assert items[1].read() == webp

    def test_member_bigger_than_max_bytes(self, tmp_path: Path) -> None:
        archive = self.make_zip(
            tmp_path / "pack.ZIP", {"big.png": b"\x00" * 5000, "small.png": b"\x00" * 10}
        )
        big, small = items_from_path(archive, max_bytes=1000)
        assert big.name == "big.png"
        with pytest.raises(MediaError, match="too large"):
            big.read()
        assert small.read() == b"\x00" * 10

    def test_not_a_zip(self, tmp_path: Path) -> None:
        path = tmp_path / "fake.zip"
        path.write_bytes(b"definitely not a zip archive")
        with pytest.raises(InvalidInputError):
            items_from_path(path, MAX_BYTES)

    def test_zip_without_media(self, tmp_path: Path) -> None:
        archive = self.make_zip(tmp_path / "docs.zip", {"readme.txt": b"x"})
        with pytest.raises(InvalidInputError):
            items_from_path(archive, MAX_BYTES)


class TestManifest:
    def test_rows(self, tmp_path: Path, make_png: ImageMaker, make_webp: ImageMaker) -> None:
        (tmp_path / "stickers").mkdir()
        png, webp = make_png(), make_webp()
        (tmp_path / "stickers" / "a.png").write_bytes(png)
        (tmp_path / "stickers" / "b.webp").write_bytes(webp)
        lines = [
            json.dumps({"file": "stickers/a.png", "emoji": "😀", "hexcode": "1F600", "style": "x"}),
            "{not json",
            "",
            json.dumps({"file": "stickers/b.webp", "emoji": None, "label": "cat"}),
            json.dumps({"emoji": "😀"}),
            json.dumps({"file": 42}),
            json.dumps(["stickers/a.png"]),
        ]
        manifest = tmp_path / "manifest.jsonl"
        manifest.write_text("\n".join(lines) + "\n", encoding="utf-8")

        items = items_from_path(manifest, MAX_BYTES)

        assert names(items) == [
            "stickers/a.png",
            "line 2",
            "stickers/b.webp",
            "line 5",
            "line 6",
            "line 7",
        ]
        first, bad_json, second, *others = items
        assert first.emoji == "😀"
        assert first.read() == png
        assert (first.telegram_file_id, first.discord_sticker_id) == (None, None)
        assert second.emoji == ""
        assert second.read() == webp
        with pytest.raises(InvalidInputError, match="bad manifest row"):
            bad_json.read()
        for item in others:
            with pytest.raises(InvalidInputError):
                item.read()

    def test_missing_file_fails_on_read(self, tmp_path: Path) -> None:
        manifest = tmp_path / "m.jsonl"
        manifest.write_text(json.dumps({"file": "nope.png"}) + "\n", encoding="utf-8")
        (item,) = items_from_path(manifest, MAX_BYTES)
        with pytest.raises(MediaError):
            item.read()

    def test_blank_manifest(self, tmp_path: Path) -> None:
        manifest = tmp_path / "m.jsonl"
        manifest.write_text("\n  \n", encoding="utf-8")
        with pytest.raises(InvalidInputError):
            items_from_path(manifest, MAX_BYTES)

    def test_non_utf8_manifest(self, tmp_path: Path) -> None:
        manifest = tmp_path / "m.jsonl"
        manifest.write_bytes(b'\xff\xfe{"file": "a.png"}\n')
        with pytest.raises(InvalidInputError, match=r"m\.jsonl is not UTF-8 text \(byte 0\)"):
            items_from_path(manifest, MAX_BYTES)

    def test_non_utf8_byte_later_in_the_manifest(self, tmp_path: Path) -> None:
        manifest = tmp_path / "m.jsonl"
        data = json.dumps({"file": "a.png"}).encode() + b'\n{"file": "caf\xe9.png"}\n'
        manifest.write_bytes(data)
        offset = data.index(b"\xe9")
        with pytest.raises(InvalidInputError, match=rf"\(byte {offset}\)"):
            items_from_path(manifest, MAX_BYTES)

    def test_utf8_manifest_with_byte_order_mark(self, tmp_path: Path, make_png: ImageMaker) -> None:
        png = make_png()
        (tmp_path / "a.png").write_bytes(png)
        manifest = tmp_path / "m.jsonl"
        manifest.write_text(json.dumps({"file": "a.png", "emoji": "😀"}) + "\n", "utf-8-sig")
        (item,) = items_from_path(manifest, MAX_BYTES)
        assert (item.name, item.emoji) == ("a.png", "😀")
        assert item.read() == png
