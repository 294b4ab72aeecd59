"""An incrementally updated snapshot equals a full rebuild; non-text changes leave BM25 alone."""

import io
import random
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from engine import index as index_module
from engine.annotate import AnnotationPipeline, StageResult, StickerImage
from engine.core import Core
from engine.index import Snapshot, load_snapshot
from engine.ingest import ImportItem
from engine.service import SearchService
from engine.settings import CrowdSettings, EngineSettings, SearchSettings, StorageSettings
from engine.types import PlatformHandle
from engine.vectors import MemoryVectorIndex
from tests.conftest import internals

EMOJI = ["😀", "😂", "😢", "😡", "🐱", "🐶", "❤️", "👍", "🎉", "☕", ""]
WORDS = ["happy", "sad", "cat", "dog", "love", "angry", "wow", "hello", "party", "coffee"]
QUERIES = ["cat", "happy dog", "smiling", "😀", "lov", "partyy", "coffee cup", "wo", "p1"]


class WordStage:
    """A fake stage of some source writing random words, an NSFW score and a style vector."""

    def __init__(self, source: str, rng: random.Random, version: str) -> None:
        self.source, self.model, self.version = source, "fake", version
        self._rng = rng

    def run(self, batch: Sequence[StickerImage]) -> list[StageResult]:
        rng = self._rng
        return [
            StageResult(
                fields={self.source: " ".join(rng.choices(WORDS, k=rng.randint(0, 3)))},
                nsfw_score=rng.random(),
                style_vector=np.array([rng.random() for _ in range(4)], dtype=np.float32),
            )
            for _ in batch
        ]


def _png(seed: int) -> bytes:
    out = io.BytesIO()
    Image.new("RGBA", (8, 8), (seed % 256, (seed // 256) % 256, 7, 255)).save(out, "PNG")
    return out.getvalue()


def _open(data_dir: Path) -> SearchService:
    settings = EngineSettings(
        storage=StorageSettings(data_dir=data_dir),
        search=SearchSettings(dense=False),
        crowd=CrowdSettings(min_users=1),
    )
    svc = SearchService.open(settings)
    internals(svc).style_index = MemoryVectorIndex()
    return svc


def full_rebuild(core: Core) -> Snapshot:
    """The snapshot a fresh process would build."""
    cfg = core.settings
    return load_snapshot(core.db, core.lexicon, cfg.search, cfg.crowd, core.style_index)


def assert_same(updated: Snapshot, full: Snapshot) -> None:
    """Same documents, hits, priors, styles and exactly the same BM25 results."""
    assert updated.documents == full.documents
    assert updated.meta == full.meta
    assert updated.priors == full.priors
    assert updated.scoped == full.scoped
    assert updated.styles.ids == full.styles.ids
    np.testing.assert_allclose(updated.styles.vectors, full.styles.vectors, atol=1e-9)
    # What pack affinity and the content space read: every sticker's pack, each vector's emoji.
    assert dict(updated.styles.packs) == dict(full.styles.packs)
    content = (updated.styles.space("content", 0.5), full.styles.space("content", 0.5))
    np.testing.assert_allclose(*content, atol=1e-6)
    for text in QUERIES:
        got, want = updated.bm25.top(text, 1000), full.bm25.top(text, 1000)
        assert [i for i, _ in got] == [i for i, _ in want], text
        np.testing.assert_allclose([s for _, s in got], [s for _, s in want], atol=1e-9)


class Steps:
    """Random library changes of every kind a writer makes."""

    def __init__(self, svc: SearchService, rng: random.Random) -> None:
        self.svc, self.rng, self.n, self.packs = svc, rng, 0, []
        self.version = 0

    def imports(self) -> None:
        rng = self.rng
        pack = rng.choice([*self.packs, f"p{self.n}"])
        items = []
        for _ in range(rng.randint(1, 12)):
            self.n += 1
            seed = rng.randint(0, self.n) if rng.random() < 0.1 else self.n  # some duplicates
            name = f"{rng.choice(WORDS)}_{rng.choice(WORDS)}.png"
            caption = rng.choice(["", "", rng.choice(WORDS)])
            emoji = rng.choice(EMOJI)
            items.append(ImportItem(name, lambda s=seed: _png(s), emoji=emoji, caption=caption))
        title = rng.choice(["", f"{rng.choice(WORDS)} pack"])
        self.svc.library.import_items(items, pack, title=title)
        if pack not in self.packs:
            self.packs.append(pack)

    def annotates(self) -> None:
        core = internals(self.svc)
        self.version += 1
        source = self.rng.choice(["ocr", "vlm_keywords"])
        stage = WordStage(source, self.rng, str(self.version))
        pipeline = AnnotationPipeline(core.db, core.media, [stage], core.style_index, 8)
        pipeline.run(limit=self.rng.randint(1, 15))

    def removes(self) -> None:
        if len(self.packs) > 1:
            pack = self.rng.choice(self.packs)
            self.packs.remove(pack)
            self.svc.library.remove_pack(pack)

    def handles(self) -> None:
        ids = list(internals(self.svc).fresh_snapshot().meta)
        for i in self.rng.sample(ids, min(3, len(ids))):
            tag = f"{i}-{self.rng.random()}"
            self.svc.platform("telegram").set_handle(i, PlatformHandle(f"f{tag}", f"u{tag}"))

    def packs_change(self) -> None:
        if not self.packs:
            return
        pack = self.rng.choice(self.packs)
        self.svc.library.set_pack_nsfw(pack, self.rng.random() < 0.5)
        self.svc.library.set_pack_space(pack, self.rng.choice([None, "dc-guild:1"]))

    def crowd(self) -> None:
        ids = list(internals(self.svc).fresh_snapshot().meta)
        for i in self.rng.sample(ids, min(4, len(ids))):
            self.svc.users.record(f"u{self.rng.randint(0, 3)}", i, query=self.rng.choice(WORDS))
        self.svc.crowd.update_utility()
        self.svc.crowd.update_history_queries()


@pytest.mark.parametrize("seed", [0, 1])
def test_an_updated_snapshot_equals_a_full_rebuild(tmp_path: Path, seed: int) -> None:
    rng = random.Random(seed)
    svc = _open(tmp_path)
    try:
        steps = Steps(svc, rng)
        steps.imports()
        core = internals(svc)
        core.fresh_snapshot()
        kinds = [steps.imports, steps.annotates, steps.removes, steps.handles]
        kinds += [steps.packs_change, steps.crowd]
        for _ in range(14):
            rng.choice(kinds)()
            assert_same(core.fresh_snapshot(), full_rebuild(core))
        assert len(core.fresh_snapshot().bm25.corpus.layers) > 1, "updates made deltas"
    finally:
        svc.close()


def test_handle_and_utility_changes_rebuild_no_text_index(tmp_path: Path) -> None:
    svc = _open(tmp_path)
    try:
        Steps(svc, random.Random(3)).imports()
        core = internals(svc)
        before = core.fresh_snapshot()
        sticker = next(iter(before.meta))
        svc.platform("telegram").set_handle(sticker, PlatformHandle("file-9", "unique-9"))
        svc.users.record("u", sticker, query="cat")
        svc.crowd.update_utility()
        after = core.fresh_snapshot()
        assert after.revision > before.revision
        assert after.bm25 is before.bm25, "no BM25 segment was built"
        assert after.meta[sticker].telegram_file_id == "file-9"
        assert after.priors and after.priors != before.priors
        assert after.documents is before.documents, "no document was rebuilt"
    finally:
        svc.close()


def test_an_unnamed_change_rebuilds_in_full(tmp_path: Path) -> None:
    svc = _open(tmp_path)
    try:
        Steps(svc, random.Random(4)).imports()
        core = internals(svc)
        before = core.fresh_snapshot()
        with core.db.session() as s:
            core.db.bump_revision(s)  # a writer that does not say what it touched
        after = core.fresh_snapshot()
        assert len(after.bm25.corpus.layers) == 1 and after.bm25 is not before.bm25
    finally:
        svc.close()


def test_a_full_build_chunk_by_chunk_equals_one_in_a_piece(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    rng = random.Random(3)
    svc = _open(tmp_path)
    try:
        steps = Steps(svc, rng)
        for step in (steps.imports, steps.imports, steps.annotates, steps.imports, steps.crowd):
            step()
        steps.annotates()
        core = internals(svc)
        whole = full_rebuild(core)
        assert len(whole.meta) > 7 and len(whole.styles) > 3
        monkeypatch.setattr(index_module, "ROW_CHUNK", 3)
        monkeypatch.setattr(index_module, "STYLE_CHUNK", 2)
        assert_same(full_rebuild(core), whole)
    finally:
        svc.close()
