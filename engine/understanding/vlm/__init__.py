"""VLM annotation of stickers: search keywords, a description and an emotion per image.

Two backends sit behind `VlmAnnotator`: a local transformers image-text-to-text model (optionally
with a PEFT/LoRA adapter such as PerSRV's on LLaVA-1.5) and any OpenAI-compatible chat-completions
endpoint (vLLM, Ollama, llama.cpp server). Both send the same prompt and share one tolerant parser,
because real VLMs wrap, truncate and misquote the JSON they are asked for.

Modules: `types` (protocol, fields, errors), `prompt`, `parse` (the tolerant parser), `images`,
`transformers_backend`, `openai_backend`, `settings` (VlmSettings and the factory).
"""

from engine.understanding.vlm.openai_backend import OpenAiVlmAnnotator
from engine.understanding.vlm.parse import parse_vlm_output
from engine.understanding.vlm.prompt import build_prompt, max_keywords_for
from engine.understanding.vlm.settings import VlmSettings, make_vlm_annotator
from engine.understanding.vlm.transformers_backend import TransformersVlmAnnotator
from engine.understanding.vlm.types import (
    VlmAnnotation,
    VlmAnnotator,
    VlmError,
    VlmFields,
    VlmUnavailableError,
)

__all__ = [
    "OpenAiVlmAnnotator",
    "TransformersVlmAnnotator",
    "VlmAnnotation",
    "VlmAnnotator",
    "VlmError",
    "VlmFields",
    "VlmSettings",
    "VlmUnavailableError",
    "build_prompt",
    "make_vlm_annotator",
    "max_keywords_for",
    "parse_vlm_output",
]
