"""Import sources: a folder, a zip archive, a manifest JSONL or a single file, as import items."""

import json
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from engine.errors import InvalidInputError, MediaError

MEDIA_SUFFIXES = {".png", ".webp", ".jpg", ".jpeg", ".gif", ".tgs", ".webm", ".apng"}


@dataclass(frozen=True)
class ImportItem:
    """One sticker to import: its original name, a reader of its bytes and platform facts."""

    name: str
    read: Callable[[], bytes]
    emoji: str = ""
    telegram_file_id: str | None = None
    telegram_file_unique_id: str | None = None
    discord_sticker_id: str | None = None
    # What the platform says of the sticker beyond its name (Discord: description and tags).
    caption: str = ""


def _file_reader(path: Path, max_bytes: int) -> Callable[[], bytes]:
    def read() -> bytes:
        try:
            size = path.stat().st_size
        except OSError as exc:
            raise MediaError(f"cannot read file ({exc.strerror})") from exc
        if size > max_bytes:
            raise MediaError(f"file too large ({size} bytes, limit {max_bytes})")
        return path.read_bytes()

    return read


def _failing(message: str) -> Callable[[], bytes]:
    def read() -> bytes:
        raise InvalidInputError(message)

    return read


def _folder_items(root: Path, max_bytes: int) -> Iterator[ImportItem]:
    for path in sorted(root.rglob("*")):
        rel = path.relative_to(root)
        if any(part.startswith(".") for part in rel.parts) or not path.is_file():
            continue
        if path.suffix.lower() in MEDIA_SUFFIXES:
            yield ImportItem(rel.as_posix(), _file_reader(path, max_bytes))


def _manifest_row(line: str, lineno: int, base: Path, max_bytes: int) -> ImportItem:
    try:
        row = json.loads(line)
        file = row["file"]
        emoji = row.get("emoji") or ""
        if not isinstance(file, str) or not isinstance(emoji, str):
            raise TypeError("file and emoji must be strings")
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        return ImportItem(f"line {lineno}", _failing(f"bad manifest row: {exc}"))
    path = (base / file).resolve()
    return ImportItem(file, _file_reader(path, max_bytes), emoji=emoji)


def _manifest_items(manifest: Path, max_bytes: int) -> Iterator[ImportItem]:
    # Only `file` and `emoji` are read: other keys (labels used by evaluation) are ignored.
    try:
        lines = manifest.read_text(encoding="utf-8-sig").splitlines()
    except UnicodeDecodeError as exc:
        raise InvalidInputError(f"{manifest.name} is not UTF-8 text (byte {exc.start})") from exc
    for lineno, line in enumerate(lines, 1):
        if line.strip():
            yield _manifest_row(line, lineno, manifest.parent, max_bytes)


def _zip_reader(
    archive: zipfile.ZipFile, info: zipfile.ZipInfo, max_bytes: int
) -> Callable[[], bytes]:
    def read() -> bytes:
        if info.file_size > max_bytes:
            raise MediaError(f"file too large ({info.file_size} bytes, limit {max_bytes})")
        with archive.open(info) as fh:
            data = fh.read(max_bytes + 1)  # the header's size may lie
        if len(data) > max_bytes:
            raise MediaError(f"file too large (over {max_bytes} bytes)")
        return data

    return read


def _zip_items(path: Path, max_bytes: int) -> Iterator[ImportItem]:
    try:
        archive = zipfile.ZipFile(path)
    except zipfile.BadZipFile as exc:
        raise InvalidInputError(f"{path.name} is not a readable zip archive") from exc
    for info in sorted(archive.infolist(), key=lambda i: i.filename):
        name = info.filename
        if info.is_dir() or Path(name).name.startswith(".") or "__MACOSX" in name:
            continue
        if Path(name).suffix.lower() in MEDIA_SUFFIXES:
            yield ImportItem(name, _zip_reader(archive, info, max_bytes))


def items_from_path(path: Path, max_bytes: int) -> list[ImportItem]:
    """Import items of a folder, a .zip, a .jsonl manifest or one media file."""
    if not path.exists():
        raise InvalidInputError(f"{path} does not exist")
    if path.is_dir():
        items = list(_folder_items(path, max_bytes))
    elif path.suffix.lower() == ".jsonl":
        items = list(_manifest_items(path, max_bytes))
    elif path.suffix.lower() == ".zip":
        items = list(_zip_items(path, max_bytes))
    else:
        items = [ImportItem(path.name, _file_reader(path, max_bytes))]
    if not items:
        raise InvalidInputError(
            f"{path} holds no sticker files ({', '.join(sorted(MEDIA_SUFFIXES))})"
        )
    return items
