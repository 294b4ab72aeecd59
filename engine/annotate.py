"""The resumable annotation pipeline: OCR, VLM, NSFW and style stages over stickers in batches.

Each stage's output is stored per (sticker, source) with the stage's model and version, so a run
that is killed mid-batch redoes only the uncommitted batch, and changing a model re-annotates.
"""

import hashlib
import logging
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt
from PIL import Image
from sqlalchemy import select
from sqlalchemy.orm import Session

from engine.media import MediaStore
from engine.schema import Annotation, Sticker, utcnow
from engine.storage import Database
from engine.types import AnnotateReport
from engine.vectors import VectorIndex

log = logging.getLogger(__name__)

# The lengths of `Annotation.model` and `Annotation.version` (engine/schema.py).
MODEL_CHARS = 256
VERSION_CHARS = 64


@dataclass(frozen=True)
class StickerImage:
    """A sticker's preview frame, as every stage reads it."""

    sticker_id: int
    image: Image.Image


@dataclass
class StageResult:
    """What a stage found for one sticker."""

    fields: dict[str, Any] = field(default_factory=dict)
    nsfw_score: float | None = None
    style_vector: npt.NDArray[np.float32] | None = None


class Stage(Protocol):
    """One annotation source (ocr, vlm, nsfw, style) with the model that produces it."""

    @property
    def source(self) -> str:
        """The annotation source name (ocr, vlm, nsfw, style)."""
        ...

    @property
    def model(self) -> str:
        """The model that produces this source."""
        ...

    @property
    def version(self) -> str:
        """Changes whenever the output for the same image could change."""
        ...

    def run(self, batch: Sequence[StickerImage]) -> list[StageResult]:
        """Annotate a batch; one result per input, in order."""
        ...


def fitted(text: str, limit: int) -> str:
    """`text` if it fits a column of `limit` characters, else its head and a digest of all of it."""
    if len(text) <= limit:
        return text
    # A model path and a prompt tag can outgrow the column; the digest keeps keys distinct.
    digest = hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]
    return f"{text[: limit - len(digest) - 1]}~{digest}"


def stored_key(stage: Stage) -> tuple[str, str]:
    """The (model, version) that the database holds for a stage's annotations."""
    return fitted(stage.model, MODEL_CHARS), fitted(stage.version, VERSION_CHARS)


Progress = Callable[[int, int], None]


@dataclass
class RunControl:
    """What long runs share with the process: a stop request and a gate around every write.

    The app sets `stop` at shutdown; a process that must exit while a run is still busy holds
    `gate` first, so that nothing is half-written when it goes.
    """

    stop: threading.Event = field(default_factory=threading.Event)
    gate: threading.Lock = field(default_factory=threading.Lock)
    batch_seconds: float = 2.0

    def next_batch(self, size: int, seconds: float, largest: int) -> int:
        """The size that takes about `batch_seconds` at the speed the last batch had."""
        per_item = seconds / max(size, 1)
        fitting = int(self.batch_seconds / per_item) if per_item > 0 else largest
        return max(1, min(largest, fitting))


class AnnotationPipeline:
    """Runs stages over stickers whose stored (model, version) differs from the configured one."""

    def __init__(
        self,
        db: Database,
        media: MediaStore,
        stages: Sequence[Stage],
        style_index: VectorIndex | None = None,
        batch_size: int = 16,
        control: RunControl | None = None,
    ) -> None:
        self.db = db
        self.media = media
        self.stages = list(stages)
        self.style_index = style_index
        self.batch_size = batch_size
        self.control = control or RunControl()

    def pending(self) -> dict[int, list[Stage]]:
        """Sticker id -> the stages it still needs, in id order."""
        done: dict[int, dict[str, tuple[str, str]]] = defaultdict(dict)
        with self.db.session() as s:
            rows = s.execute(
                select(
                    Annotation.sticker_id, Annotation.source, Annotation.model, Annotation.version
                )
            )
            for sticker_id, source, model, version in rows:
                done[sticker_id][source] = (model, version)
            ids = list(s.scalars(select(Sticker.id).order_by(Sticker.id)))
        keys = {st.source: stored_key(st) for st in self.stages}
        todo: dict[int, list[Stage]] = {}
        for sticker_id in ids:
            need = [st for st in self.stages if done[sticker_id].get(st.source) != keys[st.source]]
            if need:
                todo[sticker_id] = need
        return todo

    def run(self, limit: int | None = None, progress: Progress | None = None) -> AnnotateReport:
        """Annotate pending stickers batch by batch; each batch commits on its own.

        Batches shrink to take about `control.batch_seconds` each, and a stop request ends the
        run after the batch in progress: a shutdown never waits long.
        """
        todo = self.pending()
        ids = list(todo)[:limit] if limit is not None else list(todo)
        report = AnnotateReport()
        size, done = 1, 0  # the first batch measures the speed
        while done < len(ids) and not self.control.stop.is_set():
            batch = ids[done : done + size]
            started = time.perf_counter()
            self._run_batch(batch, todo, report)
            done += len(batch)
            took = time.perf_counter() - started
            size = self.control.next_batch(len(batch), took, self.batch_size)
            if progress:
                progress(len(batch), len(ids))
        report.remaining = len(todo) - done
        return report

    def _run_batch(
        self, ids: list[int], todo: dict[int, list[Stage]], report: AnnotateReport
    ) -> None:
        images, broken = self._load(ids)
        outputs: dict[int, list[tuple[Stage, StageResult]]] = defaultdict(list)
        for stage in self.stages:
            wanted = [img for img in images if stage in todo[img.sticker_id]]
            if wanted:
                for img, result in zip(wanted, stage.run(wanted), strict=True):
                    outputs[img.sticker_id].append((stage, result))
        with self.control.gate, self.db.session() as s:
            self._store_vectors(outputs)
            for sticker_id, results in outputs.items():
                for stage, result in results:
                    _upsert(s, sticker_id, stage, result)
            for sticker_id, error in broken.items():
                for stage in todo[sticker_id]:
                    _upsert(s, sticker_id, stage, StageResult(fields={"error": error}))
            self.db.bump_revision(s)
        report.annotated += len(outputs)
        report.failed.update(broken)

    def _load(self, ids: list[int]) -> tuple[list[StickerImage], dict[int, str]]:
        with self.db.session() as s:
            paths = dict(
                s.execute(select(Sticker.id, Sticker.preview_path).where(Sticker.id.in_(ids))).all()
            )
        images: list[StickerImage] = []
        broken: dict[int, str] = {}
        for sticker_id in ids:
            try:
                with Image.open(self.media.path(paths[sticker_id])) as img:
                    images.append(StickerImage(sticker_id, img.convert("RGBA")))
            except (OSError, KeyError, ValueError) as exc:
                log.warning("sticker %s has no readable preview: %s", sticker_id, exc)
                broken[sticker_id] = f"preview unreadable ({exc.__class__.__name__})"
        return images, broken

    def _store_vectors(self, outputs: dict[int, list[tuple[Stage, StageResult]]]) -> None:
        # Written before the database commit: Chroma upserts are idempotent, so a crash in between
        # means the batch is redone, never that a committed annotation lacks its vector.
        pairs = [
            (i, r.style_vector)
            for i, rs in outputs.items()
            for _, r in rs
            if r.style_vector is not None
        ]
        if pairs and self.style_index is not None:
            self.style_index.upsert([i for i, _ in pairs], np.stack([v for _, v in pairs]))


def _upsert(s: Session, sticker_id: int, stage: Stage, result: StageResult) -> None:
    row = s.scalar(
        select(Annotation).where(
            Annotation.sticker_id == sticker_id, Annotation.source == stage.source
        )
    )
    if row is None:
        row = Annotation(sticker_id=sticker_id, source=stage.source)
        s.add(row)
    row.model, row.version = stored_key(stage)
    row.fields, row.updated_at = result.fields, utcnow()
    if result.nsfw_score is not None:
        sticker = s.get(Sticker, sticker_id)
        if sticker is not None:
            sticker.nsfw_score = result.nsfw_score
