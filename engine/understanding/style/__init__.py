"""Image style embedders: EfficientNet-Lite0 (pooled, or Gram + colour + edge statistics) and CLIP.

Style lives in textures and palettes more than in what a sticker shows (DESIGN.md 2.3), so the
default "gram" mode describes an image by second-order statistics of early CNN feature maps, its
palette, its gradient texture and its outline, not by the pooled object features of the last layer.
Vectors are L2-normalised. How they are compared (library-mean centring, then the `similarity`,
`knn` or `persrv` rule) is `engine.personalize`'s business; `scripts/measure_style.py` measures
embedders through that code.

Modules: `types` (protocol, vectors, error), `handcrafted` (palette, texture and stats blocks),
`efficientnet`, `clip`, `settings` (StyleSettings and the factory).
"""

from engine.understanding.style.clip import ClipImageEmbedder
from engine.understanding.style.efficientnet import EfficientNetLiteEmbedder
from engine.understanding.style.settings import StyleSettings, make_style_embedder
from engine.understanding.style.types import StyleEmbedder, StyleError, StyleVectors

__all__ = [
    "ClipImageEmbedder",
    "EfficientNetLiteEmbedder",
    "StyleEmbedder",
    "StyleError",
    "StyleSettings",
    "StyleVectors",
    "make_style_embedder",
]
