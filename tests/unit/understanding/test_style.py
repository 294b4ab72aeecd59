"""Style: handcrafted features, real EfficientNet-Lite0 weights, and a tiny CLIP built here."""

import json
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageDraw
from pydantic import ValidationError

from engine.errors import ConfigError
from engine.imaging import unit_rows
from engine.personalize import Profile, style_scores
from engine.settings import PersonalizationSettings
from engine.styles import StyleMatrix
from engine.understanding.style import (
    ClipImageEmbedder,
    EfficientNetLiteEmbedder,
    StyleEmbedder,
    StyleError,
    StyleSettings,
    StyleVectors,
    make_style_embedder,
)
from engine.understanding.style.efficientnet import BLOCK_WEIGHTS, combine_blocks
from engine.understanding.style.handcrafted import (
    alpha_stats,
    edge_stats,
    handcrafted_blocks,
    opaque_mask,
    palette_features,
    rgba_array,
    soft_bins,
    texture_features,
)

SAMPLE = Path(__file__).parents[3] / "engine" / "data" / "sample"


def disc(
    fill: tuple[int, int, int], outline: tuple[int, int, int] | None = None, side: int = 96
) -> Image.Image:
    """A filled circle on transparency, optionally with a thick outline."""
    image = Image.new("RGBA", (side, side), (0, 0, 0, 0))
    box = (side // 12, side // 12, side - side // 12, side - side // 12)
    ImageDraw.Draw(image).ellipse(box, fill=(*fill, 255), outline=outline, width=side // 16)
    return image


def shaded(size: int = 96) -> Image.Image:
    """An opaque square with a smooth vertical gradient: shading, no flat fill."""
    ramp = np.linspace(40, 220, size, dtype=np.uint8)
    rgb = np.stack([np.tile(ramp[:, None], (1, size))] * 3, axis=-1)
    return Image.fromarray(rgb, "RGB").convert("RGBA")


@pytest.fixture(scope="module")
def gram_embedder() -> EfficientNetLiteEmbedder:
    """The real weights, loaded once for the module."""
    return EfficientNetLiteEmbedder("gram", batch_size=4)


@pytest.fixture(scope="module")
def pooled_embedder() -> EfficientNetLiteEmbedder:
    """The real weights, loaded once for the module."""
    return EfficientNetLiteEmbedder("pooled", batch_size=4)


class TestSettings:
    def test_defaults_are_the_offline_gram_embedder(self) -> None:
        embedder = make_style_embedder(StyleSettings())
        assert isinstance(embedder, EfficientNetLiteEmbedder)
        assert embedder.mode == "gram"
        assert embedder.name.startswith("efficientnet-lite0:gram")

    def test_pooled_mode_and_clip_backend(self) -> None:
        pooled = make_style_embedder(StyleSettings(mode="pooled"))
        clip = make_style_embedder(StyleSettings(backend="clip", model="some/clip"))
        assert isinstance(pooled, EfficientNetLiteEmbedder) and pooled.dim == 1280
        assert isinstance(clip, ClipImageEmbedder) and clip.name == "clip:some/clip"

    def test_frozen_and_strict(self) -> None:
        settings = StyleSettings()
        with pytest.raises(ValidationError):
            settings.mode = "pooled"
        with pytest.raises(ValidationError):
            StyleSettings(colour="red")  # type: ignore[call-arg]
        with pytest.raises(ValidationError):
            StyleSettings(backend="resnet")  # type: ignore[arg-type]
        with pytest.raises(ValidationError):
            StyleSettings(batch_size=0)

    def test_input_side_must_keep_the_static_padding_right(self) -> None:
        with pytest.raises(ConfigError):
            EfficientNetLiteEmbedder(input_side=100)
        with pytest.raises(ValidationError):
            StyleSettings(input_side=100)
        small = make_style_embedder(StyleSettings(input_side=128))
        assert isinstance(small, EfficientNetLiteEmbedder) and small.input_side == 128
        assert small.name != EfficientNetLiteEmbedder().name  # stored vectors must be redone

    def test_block_recipe_is_part_of_the_name(self) -> None:
        default = make_style_embedder(StyleSettings())
        assert default.name == "efficientnet-lite0:gram:224:v1"  # v1's vectors, unchanged
        recipe = make_style_embedder(StyleSettings(blocks={"gram": 1.0, "palette": 0.5}))
        assert recipe.name == "efficientnet-lite0:gram:224:v1:gram=1,palette=0.5"
        assert isinstance(recipe, EfficientNetLiteEmbedder) and recipe.dim == 820 + 512
        with pytest.raises(ConfigError):
            EfficientNetLiteEmbedder(blocks={"hue": 1.0})
        with pytest.raises(ConfigError):
            EfficientNetLiteEmbedder(blocks={"gram": 0.0})

    def test_clip_needs_a_model(self) -> None:
        with pytest.raises(ConfigError):
            ClipImageEmbedder("")


class TestImagePreparation:
    def test_palette_mode_and_rgb_inputs_are_accepted(self) -> None:
        assert rgba_array(Image.new("P", (10, 20)), 32).shape == (32, 32, 4)
        assert rgba_array(Image.new("RGB", (50, 50), "blue"), 32)[..., 3].min() == 1.0

    def test_opaque_mask_of_an_empty_image_is_everything(self) -> None:
        empty = rgba_array(Image.new("RGBA", (16, 16)), 16)
        assert opaque_mask(empty).all()

    def test_soft_bins_compare_values_by_closeness(self) -> None:
        a, near, far = soft_bins([0.30]), soft_bins([0.34]), soft_bins([0.90])
        assert a.sum() == pytest.approx(1.0)
        assert a @ near > a @ far


class TestHandcraftedFeatures:
    def test_palette_ignores_layout_but_not_colours(self) -> None:
        left = Image.new("RGBA", (64, 64), (0, 0, 0, 0))
        ImageDraw.Draw(left).rectangle((0, 0, 31, 63), fill=(250, 200, 40, 255))
        right = left.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
        blue = disc((40, 80, 250))
        p_left, p_right = (palette_features(rgba_array(i, 64)) for i in (left, right))
        p_blue = palette_features(rgba_array(blue, 64))
        assert np.allclose(p_left, p_right)
        assert float(unit_rows(p_left) @ unit_rows(p_blue)) < 0.5

    def test_texture_tells_flat_fill_from_shading(self) -> None:
        flat = texture_features(rgba_array(Image.new("RGBA", (64, 64), "red"), 64))
        smooth = texture_features(rgba_array(shaded(), 64))
        assert flat[0] == pytest.approx(1.0)  # every step is zero
        assert smooth[0] < 0.5 and smooth[1:4].sum() > 0.5  # small steps everywhere

    def test_edge_stats_see_a_dark_outline(self) -> None:
        plain = rgba_array(disc((250, 200, 40)), 96)
        outlined = rgba_array(disc((250, 200, 40), outline=(0, 0, 0)), 96)
        dark_plain = edge_stats(plain, opaque_mask(plain))[0]
        dark_outlined = edge_stats(outlined, opaque_mask(outlined))[0]
        assert dark_plain < 0.1
        assert dark_outlined > 0.9

    def test_alpha_stats_measure_coverage_and_fill(self) -> None:
        rgba = rgba_array(disc((250, 200, 40)), 96)
        _, coverage, box, fill = alpha_stats(rgba, opaque_mask(rgba))
        assert coverage == pytest.approx(np.pi * 40**2 / 96**2, rel=0.05)
        assert fill == pytest.approx(np.pi / 4, rel=0.05)  # a circle fills pi/4 of its box
        assert box == pytest.approx((81 / 96) ** 2, rel=0.05)

    def test_blocks_have_fixed_lengths(self) -> None:
        blocks = handcrafted_blocks(disc((10, 200, 10)))
        assert {k: len(v) for k, v in blocks.items()} == {
            "palette": 512,
            "texture": 9,
            "stats": 120,
        }
        assert set(blocks) < set(BLOCK_WEIGHTS)


def check_unit_rows(vectors: StyleVectors, rows: int, dim: int) -> None:
    """float32, the right shape, L2 norm 1."""
    assert vectors.dtype == np.float32
    assert vectors.shape == (rows, dim)
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)


class TestEfficientNetLite:
    @pytest.mark.parametrize("fixture", ["gram_embedder", "pooled_embedder"])
    def test_unit_rows_batched_and_deterministic(
        self, fixture: str, request: pytest.FixtureRequest
    ) -> None:
        embedder: StyleEmbedder = request.getfixturevalue(fixture)
        images = [disc((250, 200, 40)), disc((40, 80, 250), (0, 0, 0)), shaded(), shaded(50)]
        images.append(Image.new("RGBA", (300, 120), (200, 30, 30, 255)))  # batch of 4 + 1
        vectors = embedder.embed(images)
        check_unit_rows(vectors, len(images), embedder.dim)
        np.testing.assert_allclose(embedder.embed(images[3:4])[0], vectors[3], atol=1e-5)
        assert float(vectors[0] @ vectors[2]) < 0.999

    def test_threads_share_one_model(self, gram_embedder: EfficientNetLiteEmbedder) -> None:
        images = [disc((250, 200, 40)), shaded()]
        expected = gram_embedder.embed(images)
        with ThreadPoolExecutor(max_workers=3) as pool:
            results = list(pool.map(gram_embedder.embed, [images] * 3))
        for result in results:
            np.testing.assert_allclose(result, expected, atol=1e-5)

    def test_smaller_input_side(self) -> None:
        embedder = EfficientNetLiteEmbedder("gram", input_side=128)
        check_unit_rows(embedder.embed([shaded()]), 1, embedder.dim)

    def test_empty_batch(self, gram_embedder: EfficientNetLiteEmbedder) -> None:
        assert gram_embedder.embed([]).shape == (0, gram_embedder.dim)
        assert gram_embedder.embed_blocks([])["gram"].shape == (0, 820)

    def test_vectors_are_the_weighted_blocks(self, gram_embedder: EfficientNetLiteEmbedder) -> None:
        images = [disc((250, 200, 40)), shaded(), disc((40, 80, 250), (0, 0, 0))]
        blocks = gram_embedder.embed_blocks(images)
        for rows in blocks.values():
            check_unit_rows(rows, 3, rows.shape[1])
        expected = combine_blocks(blocks, BLOCK_WEIGHTS)
        np.testing.assert_allclose(gram_embedder.embed(images), expected, atol=1e-6)
        only_palette = EfficientNetLiteEmbedder(blocks={"palette": 1.0}).embed(images)
        np.testing.assert_allclose(only_palette, blocks["palette"], atol=1e-6)

    def test_hidden_colour_under_transparency_does_not_count(
        self, gram_embedder: EfficientNetLiteEmbedder
    ) -> None:
        # At the input side no resize runs, which would itself zero the hidden colour.
        plain = disc((250, 200, 40), side=gram_embedder.input_side)
        pixels = np.asarray(plain).copy()
        pixels[pixels[..., 3] == 0] = (0, 0, 255, 0)  # blue where nothing shows
        vectors = gram_embedder.embed([plain, Image.fromarray(pixels, "RGBA")])
        np.testing.assert_allclose(vectors[0], vectors[1], atol=1e-5)

    def test_gram_vectors_find_the_style_of_unseen_emoji(
        self, gram_embedder: EfficientNetLiteEmbedder
    ) -> None:
        rows = [json.loads(line) for line in (SAMPLE / "manifest.jsonl").read_text().splitlines()]
        emoji = list(dict.fromkeys(r["emoji"] for r in rows))[:8]
        styles = sorted({r["style"] for r in rows})
        chosen = [r for r in rows if r["emoji"] in emoji]
        vectors = gram_embedder.embed([Image.open(SAMPLE / r["file"]) for r in chosen])
        matrix = StyleMatrix(range(len(chosen)), vectors)  # centred, as the bot ranks
        at = {(r["emoji"], r["style"]): i for i, r in enumerate(chosen)}
        cfg = PersonalizationSettings(rule="similarity")
        hits = 0
        for query in emoji:  # history: the other 7 emoji in one style; candidates: 5 styles
            _, candidates = matrix.rows([at[(query, s)] for s in styles])
            for style in styles:
                history = tuple((at[(e, style)], 1.0) for e in emoji if e != query)
                scores = style_scores(Profile(history), candidates, matrix, cfg)
                hits += styles[int(np.argmax(scores))] == style
        assert hits >= 0.8 * len(emoji) * len(styles)  # measured 36 of 40; chance 8


@pytest.fixture(scope="module")
def tiny_clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A randomly initialised CLIP vision tower and its processor, saved like a hub model."""
    import torch
    from transformers import CLIPImageProcessor, CLIPVisionConfig, CLIPVisionModelWithProjection

    torch.manual_seed(0)
    config = CLIPVisionConfig(
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=2,
        image_size=32,
        patch_size=8,
        projection_dim=16,
    )
    path = tmp_path_factory.mktemp("tiny-clip")
    CLIPVisionModelWithProjection(config).save_pretrained(path)
    processor = CLIPImageProcessor(
        size={"shortest_edge": 32}, crop_size={"height": 32, "width": 32}
    )
    processor.save_pretrained(path)
    return path


class TestClip:
    def test_loads_through_settings_and_embeds(self, tiny_clip: Path) -> None:
        embedder = make_style_embedder(StyleSettings(backend="clip", model=str(tiny_clip)))
        images = [disc((250, 200, 40)), shaded(), Image.new("RGB", (40, 20), "green")]
        vectors = embedder.embed(images)
        check_unit_rows(vectors, 3, 16)
        assert embedder.dim == 16
        np.testing.assert_allclose(embedder.embed(images[1:2])[0], vectors[1], atol=1e-5)
        assert float(vectors[0] @ vectors[1]) < 0.999

    def test_transparent_pixels_are_composited(self, tiny_clip: Path) -> None:
        embedder = ClipImageEmbedder(str(tiny_clip), batch_size=1)
        hidden_red = Image.new("RGBA", (32, 32), (255, 0, 0, 0))
        hidden_blue = Image.new("RGBA", (32, 32), (0, 0, 255, 0))
        vectors = embedder.embed([hidden_red, hidden_blue])
        np.testing.assert_allclose(vectors[0], vectors[1], atol=1e-5)
        assert embedder.embed([]).shape == (0, 16)

    def test_missing_model_is_a_style_error(self, tmp_path: Path) -> None:
        with pytest.raises(StyleError):
            ClipImageEmbedder(str(tmp_path / "nowhere")).embed([shaded()])
