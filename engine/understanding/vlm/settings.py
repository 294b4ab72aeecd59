"""Which VLM annotates stickers, and the factory that builds it."""

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from engine.understanding.vlm.openai_backend import OpenAiVlmAnnotator
from engine.understanding.vlm.transformers_backend import TransformersVlmAnnotator
from engine.understanding.vlm.types import DType, VlmAnnotator


class VlmSettings(BaseModel):
    """Which VLM annotates stickers; backend `none` turns VLM annotation off."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    backend: Literal["none", "transformers", "openai"] = "none"
    model: str = ""  # transformers: HF id or local path; openai: the served model's name
    adapter: str | None = None  # transformers: PEFT/LoRA adapter id or path
    device: str = "auto"  # transformers: auto = CUDA when available, else cpu
    dtype: DType = "auto"  # transformers: auto = float32 on CPU, bfloat16/float16 on CUDA
    batch_size: int = Field(default=4, ge=1)  # images per generate call / parallel requests
    max_new_tokens: int = Field(default=256, ge=1, le=4096)
    keyword_language: str | tuple[str, ...] = "English"
    base_url: str = "http://localhost:11434/v1"  # openai: Ollama's default; vLLM serves :8000/v1
    api_key_env: str | None = None  # openai: the NAME of the environment variable with the key
    timeout_s: float = Field(default=120.0, gt=0)
    max_retries: int = Field(default=3, ge=0, le=10)
    backoff_s: float = Field(default=1.0, ge=0)


def make_vlm_annotator(settings: VlmSettings) -> VlmAnnotator | None:
    """The configured annotator, or None when the backend is `none`."""
    if settings.backend == "transformers":
        return TransformersVlmAnnotator(
            settings.model,
            adapter=settings.adapter,
            device=settings.device,
            dtype=settings.dtype,
            batch_size=settings.batch_size,
            max_new_tokens=settings.max_new_tokens,
            keyword_language=settings.keyword_language,
        )
    if settings.backend == "openai":
        return OpenAiVlmAnnotator(
            settings.model,
            base_url=settings.base_url,
            api_key_env=settings.api_key_env,
            timeout_s=settings.timeout_s,
            max_retries=settings.max_retries,
            backoff_s=settings.backoff_s,
            max_new_tokens=settings.max_new_tokens,
            keyword_language=settings.keyword_language,
            concurrency=settings.batch_size,
        )
    return None
