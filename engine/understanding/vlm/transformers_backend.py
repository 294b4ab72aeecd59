"""A local image-text-to-text model through transformers, optionally with a PEFT/LoRA adapter."""

import logging
import threading
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from importlib.util import find_spec
from typing import Any

from PIL import Image

from engine.errors import ConfigError
from engine.threads import torch_module
from engine.understanding.vlm.images import to_rgb
from engine.understanding.vlm.parse import to_annotation
from engine.understanding.vlm.prompt import build_prompt, max_keywords_for, prompt_tag
from engine.understanding.vlm.types import DType, KeywordLanguage, VlmAnnotation

log = logging.getLogger(__name__)


def _module_available(name: str) -> bool:
    return find_spec(name) is not None


def resolve_device(device: str) -> str:
    """`auto` means CUDA when it is available, else the CPU; anything else is used as given."""
    if device != "auto":
        return device
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


def resolve_dtype(dtype: DType, device: str) -> Any:
    """The torch dtype; `auto` is float32 on CPU (half precision is slow there), else bf16/fp16."""
    import torch

    if dtype != "auto":
        return getattr(torch, dtype)
    if not device.startswith("cuda"):
        return torch.float32
    return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16


@dataclass(frozen=True)
class _Loaded:
    model: Any
    processor: Any
    prompt: str  # the chat-templated prompt text with its image placeholder
    device: str


def _apply_adapter(model: Any, adapter: str, base: str) -> Any:
    from peft import PeftModel

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            peft_model = PeftModel.from_pretrained(model, adapter)
        except (OSError, ValueError, KeyError, RuntimeError) as exc:
            raise ConfigError(f"cannot load the VLM adapter {adapter!r}: {exc}") from exc
    # peft only warns when the adapter's weights name other layers; the result would be the
    # bare base model with a misleading version, so refuse it.
    if any("missing adapter keys" in str(w.message) for w in caught):
        raise ConfigError(
            f"the VLM adapter {adapter!r} does not fit the model {base!r}: its weights name "
            "other layers (was it trained on another model or another LLaVA code base?)"
        )
    return peft_model.merge_and_unload()  # merged weights generate as fast as the base model


def _chat_prompt(processor: Any, prompt: str, model: str) -> str:
    messages = [{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": prompt}]}]
    try:
        return str(processor.apply_chat_template(messages, add_generation_prompt=True))
    except (ValueError, AttributeError) as exc:
        raise ConfigError(f"the processor of the VLM {model!r} has no chat template") from exc


def _prepare_tokenizer(processor: Any) -> None:
    tokenizer = getattr(processor, "tokenizer", None)
    if tokenizer is None:
        return
    tokenizer.padding_side = "left"  # decoder-only generation continues from the right edge
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token


class TransformersVlmAnnotator:
    """A local image-text-to-text model through transformers, loaded on first use."""

    def __init__(
        self,
        model: str,
        *,
        adapter: str | None = None,
        device: str = "auto",
        dtype: DType = "auto",
        batch_size: int = 4,
        max_new_tokens: int = 256,
        keyword_language: KeywordLanguage = "English",
    ) -> None:
        if not model:
            raise ConfigError("the transformers VLM backend needs a model id or path")
        if adapter and not _module_available("peft"):
            raise ConfigError("a VLM adapter needs the `peft` package: pip install peft")
        self.name = model
        self._adapter = adapter
        self._device = device
        self._dtype: DType = dtype
        self._batch_size = max(1, batch_size)
        self._max_new_tokens = max_new_tokens
        self._prompt = build_prompt(keyword_language)
        self._max_keywords = max_keywords_for(keyword_language)
        with_adapter = f"+{adapter}" if adapter else ""
        # Precision and the token budget change the answers; the device only moves the same
        # computation, and a move to other hardware must not re-annotate the library.
        generation = f"dtype={dtype},max_new_tokens={max_new_tokens}"
        self.version = f"transformers:{model}{with_adapter}:{prompt_tag(self._prompt)}:{generation}"
        self._loaded: _Loaded | None = None
        self._load_lock = threading.Lock()
        self._run_lock = threading.Lock()

    def annotate(self, images: Sequence[Image.Image]) -> list[VlmAnnotation]:
        """Annotate images in batches of `batch_size` with greedy decoding."""
        if not images:
            return []
        loaded = self._load()
        answers: list[str] = []
        # One batch at a time: concurrent generate calls would only compete for the same device.
        with self._run_lock:
            for start in range(0, len(images), self._batch_size):
                answers += self._generate(loaded, images[start : start + self._batch_size])
        return [to_annotation(text, self.name, self._max_keywords) for text in answers]

    def _load(self) -> _Loaded:
        with self._load_lock:
            if self._loaded is None:
                self._loaded = self._load_now()
            return self._loaded

    def _load_now(self) -> _Loaded:
        torch_module()
        from transformers import AutoModelForImageTextToText, AutoProcessor

        device = resolve_device(self._device)
        try:
            # Typed as Any: the processor and model classes depend on the checkpoint.
            processor: Any = AutoProcessor.from_pretrained(self.name)  # type: ignore[no-untyped-call]
            model: Any = AutoModelForImageTextToText.from_pretrained(
                self.name, dtype=resolve_dtype(self._dtype, device)
            )
        except (OSError, ValueError, KeyError) as exc:
            raise ConfigError(f"cannot load the VLM {self.name!r}: {exc}") from exc
        if self._adapter:
            model = _apply_adapter(model, self._adapter, self.name)
        model.to(device).eval()
        _prepare_tokenizer(processor)
        log.info("loaded VLM %s on %s (%s)", self.version, device, model.dtype)
        return _Loaded(model, processor, _chat_prompt(processor, self._prompt, self.name), device)

    def _generate(self, loaded: _Loaded, batch: Sequence[Image.Image]) -> list[str]:
        import torch

        inputs = loaded.processor(
            text=[loaded.prompt] * len(batch),
            images=[[to_rgb(image)] for image in batch],  # one image per conversation
            padding=True,
            return_tensors="pt",
        ).to(loaded.device, dtype=loaded.model.dtype)  # casts floating tensors only
        with torch.inference_mode():
            output = loaded.model.generate(
                **inputs, max_new_tokens=self._max_new_tokens, do_sample=False
            )
        new_tokens = output[:, inputs["input_ids"].shape[1] :]
        texts = loaded.processor.batch_decode(new_tokens, skip_special_tokens=True)
        return [str(text) for text in texts]
