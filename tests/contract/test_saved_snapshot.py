"""The saved snapshot survives a restart and catches up with later changes; a bad one is rebuilt."""

import json
import logging
import random
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from engine import persist
from engine.index import META_FIELDS
from engine.persist import FORMAT, load_saved, save_snapshot, saved_format, snapshot_path
from engine.service import SearchService
from engine.settings import CrowdSettings, EngineSettings, SearchSettings, StorageSettings
from engine.types import SearchQuery
from tests.conftest import internals
from tests.contract.test_incremental import QUERIES, Steps, assert_same, full_rebuild


def _open(data_dir: Path) -> SearchService:
    settings = EngineSettings(
        storage=StorageSettings(data_dir=data_dir),
        search=SearchSettings(dense=False, save_index_min_stickers=0),
        crowd=CrowdSettings(min_users=1),
    )
    return SearchService.open(settings)


def _answers(svc: SearchService) -> list[list[tuple[int, float]]]:
    return [[(h.id, h.score) for h in svc.search(SearchQuery("u", q)).hits] for q in QUERIES]


def _library(tmp_path: Path) -> tuple[SearchService, Steps]:
    svc = _open(tmp_path)
    steps = Steps(svc, random.Random(7))
    for _ in range(3):
        steps.imports()
    internals(svc).snapshots.wait_for_background(30)
    return svc, steps


def test_a_restart_loads_the_saved_snapshot_and_catches_up(tmp_path: Path) -> None:
    svc, steps = _library(tmp_path)
    assert snapshot_path(tmp_path).exists()
    saved_revision = internals(svc).fresh_snapshot().revision
    steps.imports()  # changes after the save are applied on top of it at the next start
    steps.crowd()
    want = _answers(svc)
    svc.close()
    again = _open(tmp_path)
    try:
        core = internals(again)
        assert _answers(again) == want
        snapshot = core.fresh_snapshot()
        assert snapshot.revision > saved_revision
        assert len(snapshot.bm25.corpus.layers) == 2, "the saved base plus one delta"
        assert_same(snapshot, full_rebuild(core))
    finally:
        again.close()


@pytest.mark.parametrize("damage", ["garbage", "truncated", "other format"])
def test_a_bad_saved_snapshot_is_rebuilt(
    tmp_path: Path, damage: str, caplog: pytest.LogCaptureFixture
) -> None:
    svc, _ = _library(tmp_path)
    want = _answers(svc)
    svc.close()
    path = snapshot_path(tmp_path)
    data = path.read_bytes()
    if damage == "garbage":
        path.write_bytes(b"not a snapshot")
    elif damage == "truncated":
        path.write_bytes(data[: len(data) // 2])
    else:
        current = f'"format": {FORMAT}'.encode()
        assert current in data
        path.write_bytes(data.replace(current, b'"format": 0'))
    with caplog.at_level(logging.WARNING):
        again = _open(tmp_path)
        try:
            assert _answers(again) == want
            assert "rebuilding" in caplog.text
        finally:
            again.close()


def test_style_vectors_are_saved_in_half_precision_and_load_as_kept(tmp_path: Path) -> None:
    svc, steps = _library(tmp_path)
    steps.annotates()
    core = internals(svc)
    snapshot = core.fresh_snapshot()
    kept, path = snapshot.styles, tmp_path / "saved.npz"
    save_snapshot(snapshot, path, core.settings.search)
    svc.close()
    assert len(kept) > 0
    with np.load(path) as data:
        assert data["style_raw"].dtype == np.float16
        assert data["style_ids"].tolist() == kept.ids
    loaded = load_saved(path, core.settings.search)
    assert loaded is not None and loaded.styles.ids == kept.ids
    np.testing.assert_array_equal(loaded.styles.stored, kept.stored)
    np.testing.assert_array_equal(loaded.styles.vectors, kept.vectors)


def test_hit_metadata_loads_as_kept_whether_its_files_follow_the_store_layout_or_not(
    tmp_path: Path,
) -> None:
    svc, _ = _library(tmp_path)
    core = internals(svc)
    snapshot = core.fresh_snapshot()
    svc.close()
    first, second, *_ = snapshot.meta.values()
    assert isinstance(first.media, bytes)  # imported: named by its digest in the store
    # A sticker known by its platform handle before its file was fetched, and one elsewhere.
    odd = {
        first.id: replace(first, media=("", ""), telegram_file_id="CAACAgIAAxkB"),
        second.id: replace(second, media=("media/custom/a.webp", "previews/custom/a.png")),
    }
    kept = replace(snapshot, meta=snapshot.meta.updated(odd, []))
    path = tmp_path / "saved.npz"
    save_snapshot(kept, path, core.settings.search)
    loaded = load_saved(path, core.settings.search)
    assert loaded is not None and dict(loaded.meta) == dict(kept.meta)
    assert loaded.meta[second.id].preview_path == "previews/custom/a.png"
    assert loaded.meta[first.id].media_path == "" and loaded.meta[first.id].nsfw is first.nsfw


def _as_format_2(path: Path) -> None:
    """Rewrite a saved snapshot as format 2 wrote it: media paths as strings, no digests."""
    with np.load(path) as data:
        arrays = {k: data[k] for k in data.files if not k.startswith(("meta_", "paths_"))}
        header = json.loads(persist._strings(data["header"])[0])
    loaded = load_saved(path, SearchSettings(dense=False, save_index_min_stickers=0))
    assert loaded is not None
    rows = [[getattr(m, f) for f in META_FIELDS] for m in loaded.meta.values()]
    arrays |= persist._table("meta", rows)
    arrays["header"] = persist._blob([json.dumps({**header, "format": 2})])
    with path.open("wb") as out:
        np.savez(out, **arrays)


def test_a_snapshot_saved_in_format_2_still_loads_and_is_saved_anew(tmp_path: Path) -> None:
    svc, _ = _library(tmp_path)
    svc.close()
    path, cfg = snapshot_path(tmp_path), SearchSettings(dense=False, save_index_min_stickers=0)
    path.unlink()  # rebuilt and saved at the library's last revision: nothing to catch up
    svc = _open(tmp_path)
    want = _answers(svc)
    internals(svc).snapshots.wait_for_background(30)
    svc.close()
    kept = load_saved(path, cfg)
    _as_format_2(path)
    assert saved_format(path) == 2
    loaded = load_saved(path, cfg)
    assert kept is not None and loaded is not None
    assert dict(loaded.meta) == dict(kept.meta)  # digests again, not path strings
    assert all(isinstance(m.media, bytes) for m in loaded.meta.values())
    again = _open(tmp_path)
    try:
        assert _answers(again) == want
        internals(again).snapshots.wait_for_background(30)
    finally:
        again.close()
    assert saved_format(path) == FORMAT  # upgraded by the first save, with no rebuild
