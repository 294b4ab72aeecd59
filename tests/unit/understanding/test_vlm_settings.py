"""The VLM prompt, annotations as document fields, images as sent, settings and the factory."""

import pytest
from PIL import Image
from pydantic import ValidationError

from engine.errors import ConfigError
from engine.understanding.vlm import (
    VlmAnnotation,
    VlmSettings,
    build_prompt,
    make_vlm_annotator,
    max_keywords_for,
)
from engine.understanding.vlm.images import png_data_url, to_rgb


def test_prompt_asks_for_strict_json_in_the_configured_languages() -> None:
    english = build_prompt("English")
    assert '{"keywords": [' in english and '"emotion"' in english
    assert "5 to 10" in english and "in English" in english
    several = build_prompt(("English", "Japanese"))
    assert "English, Japanese" in several
    assert max_keywords_for(("English", "Japanese")) == 2 * max_keywords_for("English")


def test_annotation_maps_to_document_fields() -> None:
    annotation = VlmAnnotation(["hi", "hello"], "a wave", "warm", "m", "raw")
    assert annotation.document_fields() == {
        "vlm_keywords": ["hi", "hello"],
        "vlm_description": "a wave",
        "vlm_emotion": "warm",
    }
    assert not annotation.empty and VlmAnnotation([], "", "", "m", "junk").empty


def test_transparent_stickers_are_put_on_white() -> None:
    clear = Image.new("RGBA", (4, 4), (0, 0, 0, 0))
    assert to_rgb(clear).getpixel((0, 0)) == (255, 255, 255)
    assert png_data_url(clear).startswith("data:image/png;base64,")


def test_settings_are_frozen_and_strict() -> None:
    settings = VlmSettings()
    assert settings.backend == "none" and make_vlm_annotator(settings) is None
    with pytest.raises(ValidationError):
        VlmSettings(backend="gpt")  # type: ignore[arg-type]
    with pytest.raises(ValidationError):
        VlmSettings(unknown=1)  # type: ignore[call-arg]
    with pytest.raises(ValidationError):
        VlmSettings(batch_size=0)
    with pytest.raises(ValidationError):
        settings.model = "x"


def test_backends_need_a_model() -> None:
    for backend in ("transformers", "openai"):
        with pytest.raises(ConfigError, match="model"):
            make_vlm_annotator(VlmSettings(backend=backend))
