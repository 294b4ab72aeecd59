"""What a VLM annotation is: the annotator protocol, its fields and its errors."""

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

from PIL import Image

from engine.errors import ModelError

DType = Literal["auto", "float32", "bfloat16", "float16"]
KeywordLanguage = str | Sequence[str]


class VlmError(ModelError):
    """The VLM backend failed or refused to annotate."""


class VlmUnavailableError(VlmError):
    """The VLM endpoint stayed unreachable, overloaded or slow through every retry."""


@dataclass(frozen=True)
class VlmFields:
    """What a VLM answer yields; every field is empty when the answer held nothing usable."""

    keywords: list[str] = field(default_factory=list)
    description: str = ""
    emotion: str = ""


@dataclass(frozen=True)
class VlmAnnotation:
    """One sticker's VLM annotation, with the model that wrote it and its raw answer."""

    keywords: list[str]
    description: str
    emotion: str
    model: str
    raw: str

    @property
    def empty(self) -> bool:
        """Whether the answer gave no usable field."""
        return not (self.keywords or self.description or self.emotion)

    def document_fields(self) -> dict[str, Any]:
        """The annotation as fields of the sticker's text document (`engine.documents`)."""
        return {
            "vlm_keywords": list(self.keywords),
            "vlm_description": self.description,
            "vlm_emotion": self.emotion,
        }


class VlmAnnotator(Protocol):
    """Describes sticker images; `version` changes with whatever changes the answers."""

    name: str
    version: str

    def annotate(self, images: Sequence[Image.Image]) -> list[VlmAnnotation]:
        """One annotation per image, in order."""
        ...
