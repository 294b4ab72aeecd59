"""The shared image helpers: compositing, fitting to a side or a square, unit rows."""

import numpy as np
import pytest
from PIL import Image

from engine.imaging import (
    enlarge_to,
    on_background,
    scaled_size,
    shrink_to_fit,
    square_rgba,
    unit_rows,
)


def test_hidden_colour_under_transparency_becomes_the_background() -> None:
    hidden = Image.new("RGBA", (4, 4), (0, 0, 255, 0))  # blue where nothing shows
    assert on_background(hidden, "white").getpixel((0, 0)) == (255, 255, 255)
    assert on_background(hidden, (128, 128, 128, 255)).getpixel((0, 0)) == (128, 128, 128)
    half = Image.new("RGBA", (4, 4), (255, 0, 0, 128))
    assert on_background(half, "black").getpixel((0, 0)) == (128, 0, 0)
    assert on_background(Image.new("P", (4, 4)), "white").mode == "RGB"


def test_scaled_size_keeps_the_aspect_and_at_least_one_pixel() -> None:
    assert scaled_size(100, 50, 512) == (512, 256)
    assert scaled_size(3, 1000, 512) == (2, 512)
    assert scaled_size(1000, 1, 10) == (10, 1)


def test_shrink_to_fit_never_enlarges_and_copies() -> None:
    big = Image.new("RGB", (2000, 1000))
    assert shrink_to_fit(big, 512).size == (512, 256) and big.size == (2000, 1000)
    small = Image.new("RGB", (20, 10))
    kept = shrink_to_fit(small, 512)
    assert kept.size == (20, 10) and kept is not small


def test_enlarge_to_enlarges_only_small_images() -> None:
    assert enlarge_to(Image.new("RGB", (128, 64)), 320).size == (320, 160)
    big = Image.new("RGB", (512, 512))
    assert enlarge_to(big, 320) is big


def test_non_square_is_padded_not_stretched() -> None:
    wide = Image.new("RGBA", (200, 100), (255, 0, 0, 255))
    square = square_rgba(wide, 64)
    alpha = np.asarray(square)[..., 3]
    assert square.size == (64, 64)
    assert alpha[:14].max() == 0 and alpha[50:].max() == 0  # transparent bands
    assert alpha[20:44].min() == 255


def test_unit_rows_are_float32_and_zero_rows_stay_zero() -> None:
    rows = unit_rows(np.array([[3.0, 4.0], [0.0, 0.0]]))
    assert rows.dtype == np.float32
    assert rows.tolist() == [[pytest.approx(0.6), pytest.approx(0.8)], [0.0, 0.0]]
    assert unit_rows(np.zeros((0, 5))).shape == (0, 5)
