"""Which image embedder describes sticker style, and the factory that builds it."""

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from engine.understanding.style.clip import ClipImageEmbedder
from engine.understanding.style.efficientnet import BLOCK_WEIGHTS, EfficientNetLiteEmbedder
from engine.understanding.style.types import StyleEmbedder


class StyleSettings(BaseModel):
    """Which image embedder describes sticker style."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    backend: Literal["efficientnet-lite0", "clip"] = "efficientnet-lite0"
    mode: Literal["gram", "pooled"] = "gram"  # efficientnet-lite0 only
    model: str = "openai/clip-vit-base-patch32"  # clip only: any HF id or local path
    device: str = "cpu"
    batch_size: int = Field(default=32, ge=1, le=1024)
    # efficientnet-lite0 only: 224 is the training resolution; 128 measured 2.7x faster at the
    # same Hit@1 on 128 px dev stickers.
    input_side: int = Field(default=224, ge=64, le=512, multiple_of=32)
    # efficientnet-lite0 "gram" only: block -> weight (gram, channels, palette, texture, stats);
    # another recipe extends the embedder's name, so a change re-embeds the library.
    blocks: dict[str, float] = Field(default_factory=lambda: dict(BLOCK_WEIGHTS))


def make_style_embedder(settings: StyleSettings) -> StyleEmbedder:
    """The embedder that the settings name; nothing is loaded until the first `embed`."""
    if settings.backend == "clip":
        return ClipImageEmbedder(settings.model, settings.device, settings.batch_size)
    return EfficientNetLiteEmbedder(
        settings.mode, settings.device, settings.batch_size, settings.input_side, settings.blocks
    )
