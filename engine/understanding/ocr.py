"""Reading the text printed on a sticker: the `TextReader` protocol and a RapidOCR reader.

RapidOCR 3.x (`rapidocr`) carries its models inside the wheel: PP-OCRv6 small detection and
recognition (one multilingual recogniser; its routes list Simplified and Traditional Chinese,
English, Japanese and about 45 Latin-script languages) plus a 0/180 degree line classifier.
Nothing is downloaded: the reader always passes the wheel's model paths, so RapidOCR never
reaches its download fallback.

Cyrillic is not covered by the bundled recogniser (Russian comes back as Latin look-alikes or
nothing); RapidOCR's Cyrillic/East-Slavic models (PP-OCRv5 `cyrillic`/`eslav`) are download-only,
so a deployment that needs them fetches one once and sets `OcrSettings.rec_model_path`.

Defaults were measured on the dev stickers (128 px, five emoji styles, 27 text-bearing emoji):
a 320 px detection side reads more than the library's 736 px default and is 4x faster; the
angle classifier turns short words upside down ("UP!" -> "idN"), so it is off. Pictures make the
recogniser see stray glyphs (a "G" in a grin, 香 in a laughing face), nearly always single
characters: a line needs a confidence of 0.8, a one-character line 0.9. On 300 text-free
stickers that leaves 10% with any text (0.5 alone: 38%) while 87% of text stickers still read.
"""

import threading
from dataclasses import dataclass
from importlib import metadata
from importlib.util import find_spec
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, Protocol

import numpy as np
from PIL import Image, ImageFilter
from pydantic import BaseModel, ConfigDict, Field

from engine.errors import ConfigError, MediaError, ModelError
from engine.imaging import enlarge_to, on_background

if TYPE_CHECKING:
    from rapidocr import RapidOCR

Background = Literal["auto", "white", "black"]

BUNDLED_DET_MODEL = "PP-OCRv6_det_small.onnx"
BUNDLED_REC_MODEL = "PP-OCRv6_rec_small.onnx"
BUNDLED_CLS_MODEL = "ch_ppocr_mobile_v2.0_cls_mobile.onnx"
# Silhouette edges brighter than this vanish on white, so `auto` composites such stickers on black.
LIGHT_EDGE_LUMINANCE = 200.0


class OcrError(ModelError):
    """The OCR models failed to load or to run."""


class OcrSettings(BaseModel):
    """Knobs of the OCR reader; the defaults are the measured ones (see the module docstring)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    # Confidence a line needs to enter `OcrResult.text` (every line stays in `.lines`); a
    # one-character line needs more, because pictures produce stray single glyphs.
    min_score: float = Field(default=0.8, ge=0.0, le=1.0)
    min_score_single_char: float = Field(default=0.9, ge=0.0, le=1.0)
    background: Background = "auto"  # what transparent pixels become before OCR
    # Detection input side: larger images are scaled down to it, smaller ones up.
    det_side: int = Field(default=320, ge=32, le=2048)
    use_angle_cls: bool = False
    # onnxruntime intra-op threads (None: all cores). One, so that a background job leaves cores
    # to inline queries; all cores under load measured 2.7x slower per sticker, not faster.
    threads: int | None = Field(default=1, ge=1)
    det_model_path: Path | None = None  # None: the model inside the rapidocr wheel
    rec_model_path: Path | None = None  # e.g. a downloaded PP-OCRv5 Cyrillic recogniser
    rec_keys_path: Path | None = None  # character list, for a recogniser without one embedded


@dataclass(frozen=True)
class OcrLine:
    """One recognised line of text and the recogniser's confidence in it."""

    text: str
    score: float


@dataclass(frozen=True)
class OcrResult:
    """Every recognised line, in reading order, and the confidences that `text` requires."""

    lines: tuple[OcrLine, ...] = ()
    min_score: float = 0.0
    min_score_single_char: float = 0.0

    def kept(self, line: OcrLine) -> bool:
        """Whether a line is confident enough to count as text on the sticker."""
        needed = self.min_score_single_char if len(line.text) == 1 else self.min_score
        return line.score >= needed

    @property
    def text(self) -> str:
        """The confident lines joined by spaces; empty when nothing was read."""
        return " ".join(line.text for line in self.lines if self.kept(line))


class TextReader(Protocol):
    """Reads the text printed on a sticker image."""

    def read(self, image: Image.Image) -> OcrResult:
        """Recognise the text lines of one image."""
        ...


def light_edged(image: Image.Image) -> bool:
    """Whether the opaque pixels bordering transparency are light (they vanish on white)."""
    if image.mode != "RGBA":
        return False
    alpha = image.getchannel("A")
    opaque = np.asarray(alpha) > 127
    edge = opaque & (np.asarray(alpha.filter(ImageFilter.MinFilter(3))) <= 127)
    if not edge.any():
        return False
    luminance = np.asarray(image.convert("L"), dtype=np.float32)
    return float(luminance[edge].mean()) > LIGHT_EDGE_LUMINANCE


def flatten(image: Image.Image, background: Background = "auto") -> Image.Image:
    """An RGB copy with transparent pixels composited on the chosen background."""
    rgba = image.convert("RGBA")
    if background == "auto":
        background = "black" if light_edged(rgba) else "white"
    return on_background(rgba, background)


def _bundled(name: str) -> Path:
    # find_spec locates the wheel without importing it (importing rapidocr loads OpenCV).
    spec = find_spec("rapidocr")
    if spec is None or spec.origin is None:
        raise ConfigError("OCR needs the rapidocr package: pip install 'rapidocr>=3.10,<4'")
    return Path(spec.origin).parent / "models" / name


def _existing(path: Path) -> str:
    if not path.expanduser().is_file():
        raise ConfigError(f"OCR model file not found: {path}")
    return str(path.expanduser())


class RapidOcrReader:
    """A `TextReader` on RapidOCR's ONNX models; loads them on first use."""

    def __init__(self, settings: OcrSettings | None = None) -> None:
        self.settings = settings or OcrSettings()
        self._params = self._rapidocr_params()  # checks model paths now, not mid-job
        self._engine: RapidOCR | None = None
        self._lock = threading.Lock()

    @property
    def model_name(self) -> str:
        """Package version and model files, to record which reader produced an annotation."""
        det = Path(self._params["Det.model_path"]).stem
        rec = Path(self._params["Rec.model_path"]).stem
        keys = self._params.get("Rec.rec_keys_path")
        with_keys = f"+{Path(keys).stem}" if keys else ""
        return f"rapidocr-{metadata.version('rapidocr')}/{det}+{rec}{with_keys}"

    @property
    def version(self) -> str:
        """The settings that change what is read; `threads` only changes the speed."""
        s = self.settings
        scores = f"min_score={s.min_score}/{s.min_score_single_char}"
        return f"{scores},bg={s.background},side={s.det_side},cls={int(s.use_angle_cls)}"

    def _rapidocr_params(self) -> dict[str, Any]:
        s = self.settings
        params: dict[str, Any] = {
            "Global.log_level": "error",  # it warns on every image without text
            "Global.text_score": 0.0,  # keep every line; `OcrResult.text` applies min_score
            "Global.use_cls": s.use_angle_cls,
            "Det.limit_type": "max",
            "Det.limit_side_len": s.det_side,
            "Det.model_path": _existing(s.det_model_path or _bundled(BUNDLED_DET_MODEL)),
            "Rec.model_path": _existing(s.rec_model_path or _bundled(BUNDLED_REC_MODEL)),
            "Cls.model_path": _existing(_bundled(BUNDLED_CLS_MODEL)),
        }
        if s.rec_keys_path is not None:
            params["Rec.rec_keys_path"] = _existing(s.rec_keys_path)
        if s.threads is not None:
            params["EngineConfig.onnxruntime.intra_op_num_threads"] = s.threads
            params["EngineConfig.onnxruntime.inter_op_num_threads"] = 1
        return params

    def _load(self) -> "RapidOCR":
        with self._lock:
            if self._engine is None:
                from rapidocr import RapidOCR  # imports OpenCV: only when OCR is used

                self._engine = RapidOCR(params=self._params)
            return self._engine

    def read(self, image: Image.Image) -> OcrResult:
        """Recognise the text lines of one sticker frame (any mode; RGBA is flattened first)."""
        if image.width < 1 or image.height < 1:
            raise MediaError("cannot read text from an empty image")
        prepared = enlarge_to(flatten(image, self.settings.background), self.settings.det_side)
        try:
            output = self._load()(prepared)
        except Exception as exc:  # models load on first use; onnxruntime raises bare types
            raise OcrError(f"OCR with {self.model_name} failed: {exc}") from exc
        s = self.settings
        return OcrResult(_lines(output), s.min_score, s.min_score_single_char)


def _lines(output: Any) -> tuple[OcrLine, ...]:
    texts = getattr(output, "txts", None) or ()
    scores = getattr(output, "scores", None) or ()
    pairs = ((str(t).strip(), float(s)) for t, s in zip(texts, scores, strict=True))
    return tuple(OcrLine(text, score) for text, score in pairs if text)
