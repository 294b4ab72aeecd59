"""What a library change costs the search snapshot, before (a full rebuild) and after (a delta).

Usage (from the repository root):
    python scripts/bench_incremental.py [--stickers 100000] [--main-tree ../main]

Builds a synthetic library of N stickers with direct bulk inserts (emoji with their CLDR keywords
through engine.lexicon, OCR-like random words on 60%, file-name words), with style vectors in an
in-memory index, no text model (dense recall off). Then prints, in one process: the full build;
how long an import of 1,000 stickers, an annotation batch of 100 and a handle-only change take
to become searchable (the database write itself, the same before and after, is not counted),
each against a full rebuild of the same library as main does after every change; and a restart's
time to its first answer, with the saved snapshot and without. `--main-tree` also times main's
own full `load_snapshot` (bm25s) on the final library, in a subprocess.
"""

import argparse
import hashlib
import io
import random
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
from PIL import Image
from sqlalchemy import insert, update

from engine.annotate import AnnotationPipeline, StageResult, StickerImage
from engine.core import Core
from engine.index import load_snapshot
from engine.ingest import ImportItem
from engine.lexicon import Lexicon, _known_emoji
from engine.persist import snapshot_path
from engine.schema import Annotation, LibraryState, Pack, Sticker
from engine.service import SearchService
from engine.settings import EngineSettings, SearchSettings, StorageSettings
from engine.storage import Database, sqlite_url
from engine.types import AnnotateReport, PlatformHandle, SearchQuery
from engine.vectors import MemoryVectorIndex

LETTERS = "abcdefghijklmnopqrstuvwxyz"
PER_PACK = 100
STYLE_DIM = 64
QUERIES = ["happy", "cat", "sad face", "lov", "hapy"]


def pseudo_words(rng: random.Random, n: int) -> str:
    """OCR-like text: random lowercase words."""
    return " ".join("".join(rng.choices(LETTERS, k=rng.randint(3, 9))) for _ in range(n))


def emoji_pool() -> list[str]:
    """Emoji the lexicon knows keywords for."""
    lexicon = Lexicon(SearchSettings().locales)
    return [e for e in _known_emoji() if lexicon.keywords(e)][:1500]


def populate(data_dir: Path, n: int, seed: int = 0) -> list[str]:
    """Bulk-insert N stickers (and their OCR annotations); return the emoji used."""
    rng = random.Random(seed)
    emoji = emoji_pool()
    db = Database(sqlite_url(data_dir))
    with db.session() as s:
        packs = [{"id": p + 1, "source": "local", "name": f"pack{p}", "title": pseudo_words(rng, 2)}
                 for p in range((n + PER_PACK - 1) // PER_PACK)]  # fmt: skip
        s.execute(insert(Pack), packs)
        rows, notes = [], []
        for i in range(1, n + 1):
            digest = hashlib.sha256(f"bench-{i}".encode()).hexdigest()
            rows.append({
                "id": i, "pack_id": (i - 1) // PER_PACK + 1, "content_hash": digest,
                "format": "png", "emoji": rng.choice(emoji), "size_bytes": 100,
                "original_name": f"{pseudo_words(rng, 2).replace(' ', '_')}_{i}.png",
                "media_path": f"media/{digest}.png", "preview_path": f"previews/{digest}.png",
                "text_revision": 1,
            })  # fmt: skip
            if rng.random() < 0.6:
                notes.append(
                    {"sticker_id": i, "source": "ocr", "fields": {"ocr": pseudo_words(rng, 3)}}
                )
        s.execute(insert(Sticker), rows)
        s.execute(insert(Annotation), notes)
        s.execute(update(LibraryState).values(revision=1))
    db.dispose()
    return emoji


def open_library(data_dir: Path) -> SearchService:
    """The library with dense recall off and synthetic style vectors."""
    settings = EngineSettings(
        storage=StorageSettings(data_dir=data_dir), search=SearchSettings(dense=False)
    )
    return SearchService.open(settings)


def styles(n: int) -> MemoryVectorIndex:
    """One random style vector per sticker."""
    index = MemoryVectorIndex()
    rng = np.random.default_rng(0)
    index.upsert(list(range(1, n + 1)), rng.random((n, STYLE_DIM), dtype=np.float32))
    return index


def timed(fn: Callable[[], object]) -> float:
    """Seconds `fn` took."""
    started = time.perf_counter()
    fn()
    return time.perf_counter() - started


def full_rebuild(core: Core) -> float:
    """What main does after every change: rebuild the snapshot from the whole library."""
    cfg = core.settings
    return timed(
        lambda: load_snapshot(core.db, core.lexicon, cfg.search, cfg.crowd, core.style_index)
    )


class WordStage:
    """A fake VLM stage: random keywords, an NSFW score."""

    source, model, version = "vlm", "bench", "1"

    def __init__(self) -> None:
        self.rng = random.Random(1)

    def run(self, batch: Sequence[StickerImage]) -> list[StageResult]:
        return [StageResult(fields={"vlm_keywords": pseudo_words(self.rng, 4)}) for _ in batch]


def png(seed: int) -> bytes:
    out = io.BytesIO()
    Image.new("RGBA", (8, 8), (seed % 256, seed // 256 % 256, seed // 65536 % 256, 255)).save(
        out, "PNG"
    )
    return out.getvalue()


def annotate_batch(core: Core, ids: list[int]) -> None:
    """Store one annotation batch of `ids` as the pipeline does (previews are not read)."""
    pipeline = AnnotationPipeline(core.db, core.media, [WordStage()], core.style_index)
    images = [StickerImage(i, Image.new("RGBA", (8, 8))) for i in ids]
    pipeline._load = lambda _ids: (images, {})  # type: ignore[method-assign]
    pipeline._run_batch(ids, {i: pipeline.stages for i in ids}, AnnotateReport())


def row(name: str, before: float, after: float) -> None:
    speedup = before / max(after, 1e-9)
    print(f"{name:38s} before {before:8.3f} s   after {after:8.3f} s   x{speedup:7.1f}")


def main() -> None:
    """Populate, then time each kind of change before and after."""
    ap = argparse.ArgumentParser()
    ap.add_argument("--stickers", type=int, default=100_000)
    ap.add_argument("--data-dir", type=Path)
    ap.add_argument("--main-tree", type=Path)
    args = ap.parse_args()
    data_dir = args.data_dir or Path(tempfile.mkdtemp(prefix="bench-incremental-"))
    n = args.stickers
    took = timed(lambda: populate(data_dir, n))
    print(f"library of {n} stickers in {data_dir}: populated in {took:.1f} s")
    svc = open_library(data_dir)
    core = svc._core
    core.style_index = styles(n)
    full = timed(core.fresh_snapshot)
    print(f"full build (first start, nothing saved)  {full:8.3f} s")
    core.snapshots.wait_for_background()  # the saved snapshot is written behind searches

    items = [ImportItem(f"new_{i}.png", lambda i=i: png(i), emoji="😀") for i in range(1000)]
    core.library.import_items("imported", items)
    row("import of 1,000 -> searchable", full_rebuild(core), timed(core.fresh_snapshot))

    annotate_batch(core, list(range(1, 101)))
    row("annotation batch of 100 -> searchable", full_rebuild(core), timed(core.fresh_snapshot))

    svc.platform("telegram").set_handle(7, PlatformHandle("file-7", "unique-7"))
    row("handle change -> searchable", full_rebuild(core), timed(core.fresh_snapshot))
    layers = len(core.fresh_snapshot().bm25.corpus.layers)
    merge = timed(core.fresh_snapshot().bm25.merged)
    print(f"delta merge into the base (background)   {merge:8.3f} s   ({layers} segments)")
    core.snapshots.wait_for_background()
    # Save what a restart loads (maintenance saves after merges; force one for the bench).
    core._save(core._maintain(core.fresh_snapshot()) or core.fresh_snapshot())
    svc.close()

    def restart() -> None:
        again = open_library(data_dir)
        again._core.style_index = styles(n)
        again.search(SearchQuery("u", "happy"))
        again.close()

    warm = timed(restart)
    saved = snapshot_path(data_dir)
    saved.rename(saved.with_suffix(".off"))
    cold = timed(restart)
    row("restart -> first answer", cold, warm)
    saved.with_suffix(".off").rename(saved)
    if args.main_tree:
        print(
            f"main's own full load_snapshot (bm25s)    {main_full(args.main_tree, data_dir):8.3f} s"
        )


def main_full(tree: Path, data_dir: Path) -> float:
    """Seconds main's load_snapshot takes on this library (no style vectors), in a subprocess."""
    code = (
        "import time\nfrom engine.index import load_snapshot\nfrom engine.lexicon import Lexicon\n"
        "from engine.settings import SearchSettings, CrowdSettings\n"
        "from engine.storage import Database, sqlite_url\nfrom pathlib import Path\n"
        f"db = Database(sqlite_url(Path({str(data_dir)!r})))\ncfg = SearchSettings(dense=False)\n"
        "t = time.perf_counter()\nload_snapshot(db, Lexicon(cfg.locales), cfg, CrowdSettings())\n"
        "print(time.perf_counter() - t)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        env={"PYTHONPATH": str(tree)},
        capture_output=True,
        text=True,
        check=True,
    )
    return float(out.stdout.strip().splitlines()[-1])


if __name__ == "__main__":
    main()
