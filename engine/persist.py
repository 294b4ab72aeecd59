"""The snapshot saved under the data directory, so that a restart need not rebuild it.

One `.npz` file (written to a temporary name, then renamed: a crash leaves the old file or the
new one, never half of one) holds a JSON header (format version, revision, the settings the
indexes depend on), the BM25 base segment as raw CSC arrays, the documents and hit metadata as
string tables, and the raw style vectors. Only snapshots whose BM25 is one segment without
tombstones are saved (after a full build or a merge). A file of another format or settings, or
one that does not load, is ignored with a warning: the snapshot is then rebuilt.
"""

import json
import logging
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import scipy.sparse as sp

from engine.corpus import Corpus
from engine.documents import FIELDS, StickerDocument
from engine.index import META_FIELDS, Media, PackOf, Snapshot, StickerMeta, scoped_counts
from engine.layered import Layered
from engine.recall import FieldBM25, index_keys
from engine.segments import Postings, Segment, Shapes
from engine.settings import SearchSettings
from engine.styles import StyleMatrix

log = logging.getLogger(__name__)
FORMAT = 3  # bump whenever tokenisation, documents or this layout change
# Formats still read: 2 kept hit metadata's media paths as strings (3 keeps their digests).
READABLE = frozenset({2, FORMAT})
FILE_NAME = "snapshot.npz"
_SEP = "\x00"  # never inside a normalised text, file name or handle


def snapshot_path(data_dir: Path) -> Path:
    """Where the saved snapshot of a library lives."""
    return data_dir / "index" / FILE_NAME


def fingerprint(cfg: SearchSettings) -> dict[str, Any]:
    """The settings a saved snapshot was built under (documents, indexes, NSFW marks)."""
    keys = [list(k) for k, _ in index_keys(cfg.field_weights, cfg.phrase_weight)]
    return {
        "format": FORMAT,
        "locales": list(cfg.locales),
        "dense_locale": cfg.dense_locale,
        "nsfw_threshold": cfg.nsfw_threshold,
        "index_keys": keys,
    }


def savable(snapshot: Snapshot) -> bool:
    """Whether the snapshot's BM25 is one segment without tombstones."""
    layers = snapshot.bm25.corpus.layers
    return len(layers) == 1 and layers[0].live == len(layers[0].segment)


def save_snapshot(snapshot: Snapshot, path: Path, cfg: SearchSettings) -> None:
    """Write the snapshot atomically (tmp + rename)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    header = {**fingerprint(cfg), "revision": snapshot.revision}
    arrays: dict[str, npt.NDArray[Any]] = {"header": _blob([json.dumps(header)])}
    arrays |= _segment_arrays(snapshot.bm25.corpus.layers[0].segment)
    arrays |= _table("doc", [[d.text(f) for f in FIELDS] + [d.dense_keywords]
                             for d in snapshot.documents.values()])  # fmt: skip
    arrays["doc_ids"] = np.fromiter(snapshot.documents, dtype=np.int64)
    arrays |= _meta_arrays(list(snapshot.meta.values()))
    arrays["style_ids"] = np.array(snapshot.styles.ids, dtype=np.int64)
    arrays["style_raw"] = snapshot.styles.stored
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with tmp.open("wb") as out:
        np.savez(out, **arrays)  # type: ignore[arg-type]
    os.replace(tmp, path)


def load_saved(path: Path, cfg: SearchSettings) -> Snapshot | None:
    """The saved snapshot, or None (with a warning when one was there but is unusable)."""
    if not path.exists():
        return None
    try:
        with np.load(path, allow_pickle=False) as data:
            header = json.loads(_strings(data["header"])[0])
            wanted = {k: v for k, v in fingerprint(cfg).items() if k != "format"}
            if {k: header.get(k) for k in wanted} != wanted or header.get("format") not in READABLE:
                log.warning("saved snapshot %s is of other settings or format; rebuilding", path)
                return None
            return _snapshot(data, int(header["revision"]), cfg)
    except Exception as exc:  # a torn or foreign file: rebuild, never fail to start
        log.warning("saved snapshot %s is unreadable (%s); rebuilding", path, exc)
        return None


def _snapshot(data: Any, revision: int, cfg: SearchSettings) -> Snapshot:
    keys = tuple((str(name), bool(phrase)) for name, phrase in fingerprint(cfg)["index_keys"])
    corpus = Corpus.of(_segment(data, len(keys)), keys)
    bm25 = FieldBM25([], cfg.field_weights, cfg.phrase_weight, cfg.typing, corpus=corpus)
    doc_ids = data["doc_ids"].tolist()
    documents = {
        i: StickerDocument(i, {f: v for f, v in zip(FIELDS, row[:-1], strict=True) if v}, row[-1])
        for i, row in zip(doc_ids, _rows(data, "doc", len(FIELDS) + 1), strict=True)
    }
    meta = _load_meta(data)
    style_ids = data["style_ids"].tolist()
    packs = PackOf(meta)
    emoji = [meta[i].emoji if i in meta else "" for i in style_ids]
    styles = StyleMatrix(style_ids, data["style_raw"], emoji=emoji, packs=packs)
    if not len(styles):
        styles = StyleMatrix([], np.zeros((0, 1), dtype=np.float32), packs=packs)
    scoped = scoped_counts(meta.values())
    return Snapshot(revision, Layered(documents), Layered(meta), bm25, {}, styles, scoped)


# Hit metadata: the fields besides the media as a string table; the media as 32-byte digests
# in one array (a restart then builds no path strings), or as two paths in a second table for
# files outside the media store's layout.
_PLAIN = [f for f in META_FIELDS if f not in ("media_path", "preview_path")]
_DIGEST = 32


def _meta_arrays(metas: Sequence[StickerMeta]) -> dict[str, npt.NDArray[Any]]:
    digests = np.zeros((len(metas), _DIGEST), dtype=np.uint8)
    paths: list[list[Any]] = []
    for n, m in enumerate(metas):
        if isinstance(m.media, bytes):
            digests[n] = np.frombuffer(m.media, dtype=np.uint8)
            paths.append([None, None])
        else:
            paths.append(list(m.media))
    return {
        **_table("meta", [[getattr(m, f) for f in _PLAIN] for m in metas]),
        **_table("paths", paths),
        "meta_digests": digests,
    }


def _format2_meta(row: list[Any]) -> tuple[int, StickerMeta]:
    sticker_id, pack, emoji, file, fmt, media, preview, tg, dc, nsfw, space = row
    meta = StickerMeta.of(
        int(sticker_id), pack, emoji, file, fmt, media, preview, tg, dc, nsfw == "1", space
    )
    return meta.id, meta


def saved_format(path: Path) -> int | None:
    """The format a saved snapshot was written in (None when there is none to read)."""
    try:
        with np.load(path, allow_pickle=False) as data:
            return int(json.loads(_strings(data["header"])[0])["format"])
    except Exception:
        return None


def _load_meta(data: Any) -> dict[int, StickerMeta]:
    if "meta_digests" not in data.files:  # format 2
        return dict(map(_format2_meta, _rows(data, "meta", len(META_FIELDS))))
    rows = _rows(data, "meta", len(_PLAIN))
    paths = _rows(data, "paths", 2)
    digests = data["meta_digests"].tobytes()
    meta = {}
    for n, (row, (media_path, preview_path)) in enumerate(zip(rows, paths, strict=True)):
        media: Media = (
            digests[n * _DIGEST : (n + 1) * _DIGEST]
            if media_path is None
            else (media_path, preview_path)
        )
        sticker_id, pack, emoji, file, fmt, tg, dc, nsfw, space = row
        # Positional: a restart builds one per sticker.
        meta[int(sticker_id)] = StickerMeta(
            int(sticker_id), pack, emoji, file, fmt, media, tg, dc, nsfw == "1", space
        )
    return meta


def _segment_arrays(segment: Segment) -> dict[str, npt.NDArray[Any]]:
    arrays: dict[str, npt.NDArray[Any]] = {"ids": segment.ids}
    for k, p in enumerate(segment.postings):
        arrays[f"p{k}_names"] = _blob(p.names)
        arrays[f"p{k}_indptr"] = p.matrix.indptr
        arrays[f"p{k}_indices"] = p.matrix.indices
        arrays[f"p{k}_data"] = p.matrix.data
        arrays[f"p{k}_lengths"] = p.lengths
        arrays[f"p{k}_dims"] = np.array(p.matrix.shape, dtype=np.int64)
        if p.shapes is not None:
            arrays[f"p{k}_shapes"] = p.shapes.of_row
    return arrays


def _segment(data: Any, n_keys: int) -> Segment:
    ids = data["ids"]
    postings = []
    for k in range(n_keys):
        names = tuple(_strings(data[f"p{k}_names"]))
        dims = tuple(int(n) for n in data[f"p{k}_dims"])
        matrix = sp.csc_array(
            (data[f"p{k}_data"], data[f"p{k}_indices"], data[f"p{k}_indptr"]), shape=dims
        )
        shared = f"p{k}_shapes" in data.files
        shapes = Shapes.of(data[f"p{k}_shapes"], dims[0]) if shared else None
        postings.append(Postings(names, matrix, data[f"p{k}_lengths"], shapes))
    return Segment(ids, tuple(postings))


def _blob(strings: Sequence[str]) -> npt.NDArray[np.uint8]:
    # Each string ends with the separator, so that a table of one empty string survives.
    return np.frombuffer("".join(t + _SEP for t in strings).encode("utf-8"), dtype=np.uint8)


def _strings(blob: npt.NDArray[np.uint8]) -> list[str]:
    return blob.tobytes().decode("utf-8").split(_SEP)[:-1]


def _table(prefix: str, rows: list[list[Any]]) -> dict[str, npt.NDArray[Any]]:
    # Columns of repeated strings (emoji keywords, pack names) as a string table plus codes;
    # None is code -1.
    table: dict[str, int] = {}
    codes = np.array(
        [
            [-1 if v is None else table.setdefault(_text(v), len(table)) for v in row]
            for row in rows
        ],
        dtype=np.int32,
    )
    return {f"{prefix}_strings": _blob(list(table)), f"{prefix}_codes": codes}


def _text(value: Any) -> str:
    return ("1" if value else "0") if isinstance(value, bool) else str(value)


def _rows(data: Any, prefix: str, width: int) -> list[list[Any]]:
    # One fancy index over an object array: code -1 (None) reads the extra last entry.
    table = np.array([*_strings(data[f"{prefix}_strings"]), None], dtype=object)
    codes = data[f"{prefix}_codes"].reshape(-1, width)
    rows: list[list[Any]] = table[np.where(codes < 0, len(table) - 1, codes)].tolist()
    return rows
