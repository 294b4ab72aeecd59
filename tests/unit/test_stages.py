"""Stage keys: every setting that changes a stage's output changes its (model, version)."""

from typing import Any

import pytest

from engine.annotate import VERSION_CHARS, fitted
from engine.settings import UnderstandingSettings
from engine.stages import make_stages
from engine.understanding.nsfw import NsfwSettings
from engine.understanding.ocr import OcrSettings
from engine.understanding.style import StyleSettings
from engine.understanding.vlm import VlmSettings

TRANSFORMERS = {"backend": "transformers", "model": "some/vlm"}
OPENAI = {"backend": "openai", "model": "llava:7b"}
CLIP = {"backend": "clip", "model": "some/clip"}


def key(source: str, settings: Any) -> tuple[str, str]:
    """The (model, version) of the one stage that `settings` configure."""
    [stage] = make_stages(UnderstandingSettings(stages=(source,), **{source: settings}))
    return stage.model, stage.version


OUTPUT_CHANGES = [
    ("ocr", OcrSettings, {}, {"min_score": 0.5}),
    ("ocr", OcrSettings, {}, {"min_score_single_char": 0.95}),
    ("ocr", OcrSettings, {}, {"background": "white"}),
    ("ocr", OcrSettings, {}, {"det_side": 640}),
    ("ocr", OcrSettings, {}, {"use_angle_cls": True}),
    ("vlm", VlmSettings, TRANSFORMERS, {"model": "other/vlm"}),
    ("vlm", VlmSettings, TRANSFORMERS, {"adapter": "some/lora"}),
    ("vlm", VlmSettings, TRANSFORMERS, {"keyword_language": "German"}),
    ("vlm", VlmSettings, TRANSFORMERS, {"max_new_tokens": 64}),
    ("vlm", VlmSettings, TRANSFORMERS, {"dtype": "bfloat16"}),
    ("vlm", VlmSettings, OPENAI, {"model": "qwen2.5vl"}),
    ("vlm", VlmSettings, OPENAI, {"keyword_language": ("English", "Japanese")}),
    ("vlm", VlmSettings, OPENAI, {"max_new_tokens": 64}),
    ("style", StyleSettings, {}, {"input_side": 128}),
    ("style", StyleSettings, {}, {"mode": "pooled"}),
    ("style", StyleSettings, {}, CLIP),
    ("style", StyleSettings, CLIP, {"model": "other/clip"}),
]
SPEED_ONLY = [
    ("ocr", OcrSettings, {}, {"threads": 4}),
    ("vlm", VlmSettings, TRANSFORMERS, {"device": "cpu", "batch_size": 1}),
    ("vlm", VlmSettings, OPENAI, {"base_url": "http://gpu:8000/v1", "timeout_s": 5.0}),
    ("vlm", VlmSettings, OPENAI, {"max_retries": 0, "batch_size": 8}),
    ("nsfw", NsfwSettings, {}, {"threads": 4, "batch_size": 1}),
    ("style", StyleSettings, {}, {"device": "cuda", "batch_size": 4}),
    ("style", StyleSettings, CLIP, {"mode": "pooled", "input_side": 128}),  # efficientnet only
]


def _ids(case: tuple[str, Any, dict[str, Any], dict[str, Any]]) -> str:
    return f"{case[0]}-{'-'.join(case[3])}"


@pytest.mark.parametrize("case", OUTPUT_CHANGES, ids=_ids)
def test_settings_that_change_the_output_change_the_key(
    case: tuple[str, Any, dict[str, Any], dict[str, Any]],
) -> None:
    source, model, base, change = case
    assert key(source, model(**base)) != key(source, model(**base | change))


@pytest.mark.parametrize("case", SPEED_ONLY, ids=_ids)
def test_settings_that_change_only_speed_keep_the_key(
    case: tuple[str, Any, dict[str, Any], dict[str, Any]],
) -> None:
    source, model, base, change = case
    assert key(source, model(**base)) == key(source, model(**base | change))


def test_long_keys_are_cut_to_the_column_and_stay_distinct() -> None:
    long_a, long_b = "transformers:/models/" + "a" * 80, "transformers:/models/" + "a" * 79 + "b"
    assert fitted("short", VERSION_CHARS) == "short"
    assert len(fitted(long_a, VERSION_CHARS)) == VERSION_CHARS
    assert fitted(long_a, VERSION_CHARS) != fitted(long_b, VERSION_CHARS)
    assert fitted(long_a, VERSION_CHARS).startswith("transformers:/models/")
