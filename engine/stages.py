"""Annotation stages: the understanding components wrapped for the annotation pipeline.

Each stage's (model, version) is its staleness key: it names everything that changes the stage's
output (model and its version, mode, input size, thresholds, prompt), so changing any of them
re-annotates, and settings that change only speed (threads, batch sizes, device) do not.
"""

from collections.abc import Sequence
from dataclasses import dataclass

from engine.annotate import Stage, StageResult, StickerImage
from engine.settings import UnderstandingSettings
from engine.understanding.nsfw import NsfwScorer, OpenNsfwScorer
from engine.understanding.ocr import RapidOcrReader, TextReader
from engine.understanding.style import StyleEmbedder, make_style_embedder
from engine.understanding.vlm import VlmAnnotator, make_vlm_annotator


@dataclass
class OcrStage:
    """Text printed on the sticker, into the `ocr` document field."""

    reader: TextReader
    model: str  # the OCR package and model files
    version: str  # the settings that change what is read (`RapidOcrReader.version`)
    source: str = "ocr"

    def run(self, batch: Sequence[StickerImage]) -> list[StageResult]:
        """Read each image; lines below the confidence threshold stay out of `ocr`."""
        results = []
        for item in batch:
            read = self.reader.read(item.image)
            lines = [[line.text, round(line.score, 3)] for line in read.lines]
            results.append(StageResult(fields={"ocr": read.text, "ocr_lines": lines}))
        return results


@dataclass
class VlmStage:
    """A vision-language model's keywords, description and emotion."""

    annotator: VlmAnnotator
    source: str = "vlm"

    @property
    def model(self) -> str:
        """The annotator's model name."""
        return self.annotator.name

    @property
    def version(self) -> str:
        """Changes with the model, adapter, prompt and generation settings."""
        return self.annotator.version

    def run(self, batch: Sequence[StickerImage]) -> list[StageResult]:
        """Annotate the batch in one call (backends batch internally)."""
        annotations = self.annotator.annotate([item.image for item in batch])
        return [StageResult(fields=a.document_fields()) for a in annotations]


@dataclass
class NsfwStage:
    """The NSFW probability; search hides stickers above the configured threshold."""

    scorer: NsfwScorer
    model: str  # the model package and its version: it holds the weights and preprocessing
    # The threshold applies at search time and batch size and threads change only speed, so
    # the score of an image depends on the model alone; bump this when our compositing changes.
    version: str = "1"
    source: str = "nsfw"

    def run(self, batch: Sequence[StickerImage]) -> list[StageResult]:
        """Score the batch."""
        scores = self.scorer.score([item.image for item in batch])
        return [StageResult(fields={"nsfw": round(s, 4)}, nsfw_score=s) for s in scores]


@dataclass
class StyleStage:
    """The style embedding, stored in the `sticker_style` vector collection."""

    embedder: StyleEmbedder
    version: str = "1"
    source: str = "style"

    @property
    def model(self) -> str:
        """The embedder's name: backend, mode, input side or CLIP model, feature version."""
        return self.embedder.name

    def run(self, batch: Sequence[StickerImage]) -> list[StageResult]:
        """Embed the batch."""
        vectors = self.embedder.embed([item.image for item in batch])
        return [StageResult(style_vector=v) for v in vectors]


def make_stages(cfg: UnderstandingSettings, only: Sequence[str] | None = None) -> list[Stage]:
    """The configured stages (optionally a subset), in a fixed order."""
    wanted = [s for s in cfg.stages if only is None or s in only]
    stages: list[Stage] = []
    if "ocr" in wanted:
        reader = RapidOcrReader(cfg.ocr)
        stages.append(OcrStage(reader, reader.model_name, reader.version))
    vlm = make_vlm_annotator(cfg.vlm) if "vlm" in wanted else None
    if vlm is not None:
        stages.append(VlmStage(vlm))
    if "nsfw" in wanted:
        scorer = OpenNsfwScorer(cfg.nsfw)
        stages.append(NsfwStage(scorer, scorer.model_name))
    if "style" in wanted:
        stages.append(StyleStage(make_style_embedder(cfg.style)))
    return stages
