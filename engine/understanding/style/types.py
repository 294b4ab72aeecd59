"""What a style embedder is: the protocol, its vectors and its error."""

from collections.abc import Sequence
from typing import Protocol

import numpy as np
import numpy.typing as npt
from PIL import Image

from engine.errors import ModelError

StyleVectors = npt.NDArray[np.float32]
FloatArray = npt.NDArray[np.float64]


class StyleError(ModelError):
    """The style model failed to load or to run."""


class StyleEmbedder(Protocol):
    """Maps images to L2-normalised float32 style vectors."""

    name: str

    @property
    def dim(self) -> int:
        """Length of every vector."""
        ...

    def embed(self, images: Sequence[Image.Image]) -> StyleVectors:
        """One row per image, in order."""
        ...
