"""The annotation pipeline is resumable (killed mid-run it loses and duplicates nothing) and
redoes exactly the annotations whose stage key changed."""

import io
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from sqlalchemy import func, select

from engine.annotate import AnnotationPipeline, RunControl, Stage, StageResult, StickerImage
from engine.ingest import ImportItem
from engine.library import Library
from engine.media import MediaStore
from engine.schema import Annotation, Sticker
from engine.settings import IngestSettings, UnderstandingSettings
from engine.stages import make_stages
from engine.storage import Database, sqlite_url
from engine.understanding.style import StyleSettings
from engine.vectors import MemoryVectorIndex


class CountingStage:
    """A fake OCR stage: 'reads' the sticker's colour and counts calls per sticker."""

    source = "ocr"
    model = "fake-ocr"

    def __init__(self, version: str = "1", fail_on_call: int | None = None) -> None:
        self.version = version
        self.calls: Counter[int] = Counter()
        self._fail_on_call = fail_on_call
        self._n = 0

    def run(self, batch: Sequence[StickerImage]) -> list[StageResult]:
        self._n += 1
        if self._fail_on_call == self._n:
            raise RuntimeError("simulated crash")
        self.calls.update(i.sticker_id for i in batch)
        return [StageResult(fields={"ocr": f"red {i.image.getpixel((0, 0))[0]}"}) for i in batch]


class StyleStage:
    """A fake style stage that emits a vector per sticker."""

    source = "style"
    model = "fake-style"
    version = "1"

    def run(self, batch: Sequence[StickerImage]) -> list[StageResult]:
        return [
            StageResult(style_vector=np.array([1.0, float(i.sticker_id)], dtype=np.float32))
            for i in batch
        ]


class SlowStage(CountingStage):
    """A fake stage that takes `seconds` a sticker and asks for a stop after `stop_after`."""

    def __init__(self, seconds: float, stop_after: int, control: RunControl) -> None:
        super().__init__()
        self.seconds, self.stop_after, self.control = seconds, stop_after, control
        self.batches: list[int] = []

    def run(self, batch: Sequence[StickerImage]) -> list[StageResult]:
        time.sleep(self.seconds * len(batch))
        self.batches.append(len(batch))
        if sum(self.batches) >= self.stop_after:
            self.control.stop.set()  # a shutdown arrives while this batch runs
        return super().run(batch)


def _png(red: int) -> bytes:
    out = io.BytesIO()
    Image.new("RGBA", (16, 16), (red, 0, 0, 255)).save(out, "PNG")
    return out.getvalue()


@pytest.fixture
def library(tmp_path: Path) -> Library:
    db = Database(sqlite_url(tmp_path))
    lib = Library(db, MediaStore(tmp_path), IngestSettings())
    items = [ImportItem(f"{r}.png", lambda r=r: _png(r)) for r in range(10, 60)]
    assert lib.import_items("p", items).added == 50
    return lib


def _rows(lib: Library) -> list[tuple[int, str]]:
    with lib.db.session() as s:
        return list(s.execute(select(Annotation.sticker_id, Annotation.source)).all())


def test_run_annotates_every_sticker_once(library: Library) -> None:
    stage, style = CountingStage(), StyleStage()
    index = MemoryVectorIndex()
    report = AnnotationPipeline(
        library.db, library.media, [stage, style], index, batch_size=8
    ).run()
    assert report.annotated == 50 and not report.failed
    assert set(stage.calls.values()) == {1}
    assert index.count() == 50
    assert len(_rows(library)) == 100 and len(set(_rows(library))) == 100
    assert AnnotationPipeline(library.db, library.media, [CountingStage()], index).pending() == {}


def test_crash_mid_run_resumes_without_loss_or_duplicates(library: Library) -> None:
    crashing = CountingStage(fail_on_call=3)
    pipeline = AnnotationPipeline(library.db, library.media, [crashing], batch_size=8)
    with pytest.raises(RuntimeError):
        pipeline.run()
    # Two committed batches survive: one sticker (it measures the speed), then a full batch.
    assert len(_rows(library)) == 1 + 8
    resumed = CountingStage()
    AnnotationPipeline(library.db, library.media, [resumed], batch_size=8).run()
    assert sum(resumed.calls.values()) == 50 - 9  # only what was not committed
    assert sorted(i for i, _ in _rows(library)) == sorted({i for i, _ in _rows(library)})
    assert len(_rows(library)) == 50


def test_batches_shrink_to_the_time_budget_and_a_stop_ends_the_run(library: Library) -> None:
    control = RunControl(batch_seconds=0.05)
    slow = SlowStage(0.02, stop_after=6, control=control)  # 20 ms a sticker
    report = AnnotationPipeline(library.db, library.media, [slow], 16, control=control).run()
    assert slow.batches[0] == 1, "the first batch measures the speed"
    assert max(slow.batches[1:]) <= 3, "then batches fit 50 ms: at most 2-3 stickers"
    assert report.annotated == sum(slow.batches) < 50, "the stop ended the run between batches"
    assert report.remaining == 50 - report.annotated
    assert len(_rows(library)) == report.annotated, "every batch that ran was committed"


def test_halted_writes_keep_a_batch_from_committing(library: Library) -> None:
    control = RunControl()
    assert control.gate.acquire(timeout=1)  # what an exiting process does
    pipeline = AnnotationPipeline(library.db, library.media, [CountingStage()], control=control)
    worker = threading.Thread(target=pipeline.run, daemon=True)
    worker.start()
    worker.join(0.5)
    assert worker.is_alive() and _rows(library) == [], "inference ran, the write waits"


def test_new_model_version_reannotates_and_revision_bumps(library: Library) -> None:
    AnnotationPipeline(library.db, library.media, [CountingStage("1")]).run()
    before = library.db.revision()
    upgraded = CountingStage("2")
    AnnotationPipeline(library.db, library.media, [upgraded]).run(limit=5)
    assert sum(upgraded.calls.values()) == 5 and library.db.revision() > before
    with library.db.session() as s:
        versions = Counter(s.scalars(select(Annotation.version)))
    assert versions == Counter({"1": 45, "2": 5})


def test_long_stage_keys_fit_their_columns_and_still_match(library: Library) -> None:
    long_version = "transformers:/srv/models/" + "llava-1.5-7b-hf/" * 8  # longer than 64
    AnnotationPipeline(library.db, library.media, [CountingStage(long_version)]).run()
    with library.db.session() as s:
        assert {len(v) for v in s.scalars(select(Annotation.version))} == {64}
    again = CountingStage(long_version)
    assert AnnotationPipeline(library.db, library.media, [again]).pending() == {}


def test_unreadable_preview_is_reported_not_retried_forever(library: Library) -> None:
    with library.db.session() as s:
        victim = s.scalars(select(Sticker).order_by(Sticker.id)).first()
        assert victim is not None
        library.media.path(victim.preview_path).write_bytes(b"garbage")
        victim_id = victim.id
    report = AnnotationPipeline(library.db, library.media, [CountingStage()]).run()
    assert list(report.failed) == [victim_id]
    assert AnnotationPipeline(library.db, library.media, [CountingStage()]).pending() == {}


@pytest.mark.slow  # starts processes
def test_sigkill_mid_run_then_resume(tmp_path: Path, library: Library) -> None:
    """A real kill -9 of a process in the middle of a run, then a second run finishes the job."""
    script = textwrap.dedent(f"""
        import sys, time
        sys.path.insert(0, {str(Path(__file__).parent)!r})
        from test_annotate import CountingStage
        from engine.annotate import AnnotationPipeline
        from engine.media import MediaStore
        from engine.storage import Database, sqlite_url
        from pathlib import Path

        class Slow(CountingStage):
            def run(self, batch):
                time.sleep(0.2)
                out = super().run(batch)
                print("batch", flush=True)
                return out

        root = Path({str(tmp_path)!r})
        db = Database(sqlite_url(root))
        AnnotationPipeline(db, MediaStore(root), [Slow()], batch_size=4).run()
    """)
    proc = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    for _ in range(3):
        assert proc.stdout.readline().strip() == "batch"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    partial = len(_rows(library))
    assert 1 + 4 <= partial < 50  # at least the first two batches (1 sticker, then 4) committed
    resumed = CountingStage()
    AnnotationPipeline(library.db, library.media, [resumed], batch_size=4).run()
    with library.db.session() as s:
        assert s.scalar(select(func.count()).select_from(Annotation)) == 50
    assert sum(resumed.calls.values()) == 50 - partial


def _style_stages(input_side: int) -> list[Stage]:
    """The real style stage, built afresh as a restarted bot builds it."""
    style = StyleSettings(input_side=input_side)
    return make_stages(UnderstandingSettings(stages=("style",), style=style))


def test_changing_the_style_input_side_redoes_every_vector(tmp_path: Path) -> None:
    lib = Library(Database(sqlite_url(tmp_path)), MediaStore(tmp_path), IngestSettings())
    items = [ImportItem(f"{r}.png", lambda r=r: _png(r)) for r in range(20, 260, 40)]
    assert lib.import_items("p", items).added == 6
    index = MemoryVectorIndex()

    def run(input_side: int) -> int:
        stages = _style_stages(input_side)
        return AnnotationPipeline(lib.db, lib.media, stages, index).run().annotated

    assert run(224) == 6
    before = index.get([i for i, _ in _rows(lib)])
    assert run(224) == 0  # unchanged settings: nothing is redone
    assert run(128) == 6
    after = index.get(list(before))
    assert all(not np.allclose(before[i], after[i], atol=1e-4) for i in before)
    with lib.db.session() as s:
        assert set(s.scalars(select(Annotation.model))) == {"efficientnet-lite0:gram:128:v1"}
    assert run(128) == 0
