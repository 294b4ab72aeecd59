"""VLM annotation of stickers: search keywords, a description and an emotion per image.

Two backends sit behind `VlmAnnotator`: a local transformers image-text-to-text model (optionally
with a PEFT/LoRA adapter such as PerSRV's on LLaVA-1.5) and any OpenAI-compatible chat-completions
endpoint (vLLM, Ollama, llama.cpp server). Both send the same prompt and share one tolerant parser,
because real VLMs wrap, truncate and misquote the JSON they are asked for.
"""

import ast
import base64
import hashlib
import io
import json
import logging
import os
import re
import threading
import time
import unicodedata
import warnings
from collections.abc import Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from importlib.util import find_spec
from types import TracebackType
from typing import Any, Literal, Protocol

import httpx
from PIL import Image
from pydantic import BaseModel, ConfigDict, Field

from engine.errors import ConfigError, StickerbotError

log = logging.getLogger(__name__)

DType = Literal["auto", "float32", "bfloat16", "float16"]
KeywordLanguage = str | Sequence[str]

# Bump when the prompt's contract or the way answers become fields changes, to re-annotate.
SCHEMA_VERSION = "v1"
KEYWORDS_PER_LANGUAGE = 10
MAX_KEYWORD_CHARS = 40
MAX_DESCRIPTION_CHARS = 300
MAX_EMOTION_CHARS = 32
# A VLM answer is a few hundred characters; the cap bounds parsing time on runaway output.
MAX_ANSWER_CHARS = 20_000
MAX_IMAGE_SIDE = 1024
MAX_BACKOFF_S = 30.0


class VlmError(StickerbotError):
    """The VLM backend failed or refused to annotate."""


class VlmUnavailableError(VlmError):
    """The VLM endpoint stayed unreachable, overloaded or slow through every retry."""


@dataclass(frozen=True)
class VlmFields:
    """What a VLM answer yields; every field is empty when the answer held nothing usable."""

    keywords: list[str] = field(default_factory=list)
    description: str = ""
    emotion: str = ""


@dataclass(frozen=True)
class VlmAnnotation:
    """One sticker's VLM annotation, with the model that wrote it and its raw answer."""

    keywords: list[str]
    description: str
    emotion: str
    model: str
    raw: str

    @property
    def empty(self) -> bool:
        """Whether the answer gave no usable field."""
        return not (self.keywords or self.description or self.emotion)

    def document_fields(self) -> dict[str, Any]:
        """The annotation as fields of the sticker's text document (`engine.documents`)."""
        return {
            "vlm_keywords": list(self.keywords),
            "vlm_description": self.description,
            "vlm_emotion": self.emotion,
        }


class VlmAnnotator(Protocol):
    """Describes sticker images; `version` changes whenever model, adapter or prompt change."""

    name: str
    version: str

    def annotate(self, images: Sequence[Image.Image]) -> list[VlmAnnotation]:
        """One annotation per image, in order."""
        ...


# --- prompt -----------------------------------------------------------------------------------

_PROMPT = """This image is a chat sticker. Think about the feeling or intent that a person \
expresses by sending it.
Answer with one strict JSON object and nothing else:
{{"keywords": ["...", "..."], "description": "...", "emotion": "..."}}
- keywords: 5 to 10 short search keywords (1 to 3 words each) {languages} that a person would \
type to find this sticker: its feeling, intent or reaction, and any text written on it.
- description: one line saying what the sticker shows.
- emotion: one word for its main emotion."""


def _languages(keyword_language: KeywordLanguage) -> tuple[str, ...]:
    if isinstance(keyword_language, str):
        return (keyword_language,)
    return tuple(keyword_language) or ("English",)


def build_prompt(keyword_language: KeywordLanguage = "English") -> str:
    """The annotation prompt, asking for keywords in one language or in each of several."""
    languages = _languages(keyword_language)
    if len(languages) == 1:
        where = f"in {languages[0]}"
    else:
        where = f"in each of these languages: {', '.join(languages)}"
    return _PROMPT.format(languages=where)


def max_keywords_for(keyword_language: KeywordLanguage) -> int:
    """How many keywords to keep: the prompt asks for up to 10 per language."""
    return KEYWORDS_PER_LANGUAGE * len(_languages(keyword_language))


def _prompt_tag(prompt: str) -> str:
    return f"{SCHEMA_VERSION}-{hashlib.sha256(prompt.encode('utf-8')).hexdigest()[:8]}"


# --- parsing ----------------------------------------------------------------------------------

_ALIASES = {
    **dict.fromkeys(
        ("keywords", "keyword", "tags", "tag", "search keywords", "queries", "search queries"),
        "keywords",
    ),
    **dict.fromkeys(("description", "desc", "caption", "summary"), "description"),
    **dict.fromkeys(("emotion", "emotions", "feeling", "feelings", "mood"), "emotion"),
}
_LABEL = re.compile(
    r"(?i)(?<!\w)[\"']?(search[ _]keywords|search[ _]queries|keywords?|tags?|queries"
    r"|description|desc|caption|summary|emotions?|feelings?|mood)[\"']?\**\s*[:：=]"
)
_FENCE = re.compile(r"```[A-Za-z]*[ \t]*\n?(.*?)(?:```|$)", re.S)
_JSON_STRING = re.compile(r'\s*"((?:[^"\\]|\\.)*)"')
_PARAGRAPH_BREAK = re.compile(r"\n\s*\n")
_FENCE_MARK = re.compile(r"```[A-Za-z]*")
_TRAILING_COMMA = re.compile(r",\s*([}\]])")
_KEYWORD_SEP = re.compile(r"[,;\n|，、；]|\s+/\s+|\s+(?=#)")
_BULLET = re.compile(r"^\s*(?:[-*•·+>]+|\d{1,2}[.)]|#+)\s*")
_EMOTION_SEP = re.compile(r"[,;/(\n，、]|\s(?:and|or)\s")
_EDGE_JUNK = " \t\r\n\"'`*{}[],;|"
_PARSE_ERRORS = (ValueError, SyntaxError, TypeError, MemoryError, RecursionError)


def parse_vlm_output(
    text: str, max_keywords: int = KEYWORDS_PER_LANGUAGE, max_keyword_chars: int = MAX_KEYWORD_CHARS
) -> VlmFields:
    """Parse a VLM answer (JSON, labelled lines or a bare list) into clean fields; never raises."""
    text = text[:MAX_ANSWER_CHARS].replace("“", '"').replace("”", '"')
    raw = _json_fields(text) or _labelled_fields(text) or _bare_list_fields(text) or {}
    keywords = _dedupe(_clean_keyword(k, max_keyword_chars) for k in _keyword_items(raw))
    return VlmFields(
        keywords=keywords[:max_keywords],
        description=_clean_description(raw.get("description")),
        emotion=_clean_emotion(raw.get("emotion")),
    )


def _json_candidates(text: str) -> Iterator[str]:
    # Fenced blocks first: prose around them may hold braces of its own.
    for body in [m.group(1) for m in _FENCE.finditer(text)] + [text]:
        start = body.find("{")
        if start < 0 and body.lstrip().startswith("["):
            start = body.find("[")
        if start >= 0:
            yield body[start:]


def _load_json_like(candidate: str) -> Any:
    try:
        return json.JSONDecoder().raw_decode(candidate)[0]  # ignores text after the object
    except _PARSE_ERRORS:
        pass
    end = candidate.rfind("}" if candidate.startswith("{") else "]")
    body = _TRAILING_COMMA.sub(r"\1", candidate[: end + 1])
    # literal_eval reads the single-quoted Python dicts that some models write; it runs no code.
    for loader in (json.loads, ast.literal_eval):
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # literal_eval warns on odd escapes in noise
                return loader(body)
        except _PARSE_ERRORS:
            continue
    return None


def _known_fields(value: Any) -> dict[str, Any]:
    if isinstance(value, list):
        if value and isinstance(value[0], dict):
            return _known_fields(value[0])  # [{"keywords": ...}]
        return {"keywords": value} if value else {}
    if not isinstance(value, dict):
        return {}
    found: dict[str, Any] = {}
    for key, item in value.items():
        name = _ALIASES.get(_label_key(str(key)))
        if name is not None:
            found.setdefault(name, item)
    nested = (v for v in value.values() if isinstance(v, dict))
    return found or next((f for f in map(_known_fields, nested) if f), {})  # {"sticker": {...}}


def _label_key(label: str) -> str:
    return " ".join(label.lower().replace("_", " ").replace("-", " ").split())


def _json_fields(text: str) -> dict[str, Any] | None:
    for candidate in _json_candidates(text):
        found = _known_fields(_load_json_like(candidate))
        if found:
            return found
    return None


def _labelled_fields(text: str) -> dict[str, Any] | None:
    """`Keywords: a, b; Description: ...` in any layout; also rescues truncated JSON."""
    matches = list(_LABEL.finditer(text))
    if not matches:
        return None
    found: dict[str, Any] = {}
    for match, following in zip(matches, [*matches[1:], None], strict=True):
        end = following.start() if following is not None else len(text)
        value = text[match.end() : end]
        if '"' in match.group(0):  # a JSON key: its string value ends at the closing quote
            value = _leading_json_string(value) or value
        else:  # a paragraph break ends a field: what follows is the model's chatter
            value = _PARAGRAPH_BREAK.split(value.strip(), maxsplit=1)[0]
        found.setdefault(_ALIASES[_label_key(match.group(1))], value)
    return found


def _leading_json_string(text: str) -> str | None:
    match = _JSON_STRING.match(text)
    if match is None:
        return None
    try:
        return str(json.loads(match.group(0).strip()))
    except _PARSE_ERRORS:
        return match.group(1)


def _bare_list_fields(text: str) -> dict[str, Any] | None:
    if "{" in text or ":" in text:
        return None
    items = [item for item in _KEYWORD_SEP.split(_FENCE_MARK.sub("\n", text)) if item.strip()]
    # A list of short phrases, not prose and not one run of garbage tokens.
    if len(items) < 2 or any(len(item.split()) > 4 for item in items):
        return None
    return {"keywords": items}


def _keyword_items(raw: dict[str, Any]) -> list[str]:
    value = raw.get("keywords")
    if isinstance(value, str):
        items = _KEYWORD_SEP.split(value)
        if "[" in value and "]" not in value:
            items = items[:-1]  # a list cut off by max_new_tokens: its last word is likely partial
        return items
    if isinstance(value, list | tuple):
        scalars = [str(v) for v in value if _is_scalar(v)]
        return [part for item in scalars for part in _KEYWORD_SEP.split(item)]
    return []


def _is_scalar(value: Any) -> bool:
    return isinstance(value, str | int | float) and not isinstance(value, bool)


def _keep_char(char: str) -> bool:
    if char in "'-":
        return True
    return char != "\ufffd" and not unicodedata.category(char).startswith(("P", "Cc", "Cs", "Cn"))


def _meaningful(text: str) -> bool:
    return any(c.isalnum() or unicodedata.category(c) == "So" for c in text)


def _truncate(text: str, max_chars: int) -> str:
    if len(text) <= max_chars:
        return text
    cut = text[:max_chars]
    if text[max_chars] != " " and " " in cut:
        cut = cut.rsplit(" ", 1)[0]  # do not leave half a word
    return cut.strip()


def _clean_keyword(item: str, max_chars: int) -> str:
    """Lowercase, NFKC, bullets and punctuation gone (inner apostrophes and hyphens kept)."""
    text = unicodedata.normalize("NFKC", item).lower().replace("’", "'")
    text = _BULLET.sub("", text.strip(_EDGE_JUNK))
    text = " ".join("".join(c if _keep_char(c) else " " for c in text).split()).strip("'- ")
    return _truncate(text, max_chars) if _meaningful(text) else ""


def _dedupe(items: Iterable[str]) -> list[str]:
    return list(dict.fromkeys(item for item in items if item))


def _first_text(value: Any) -> str:
    if isinstance(value, list | tuple):
        value = next((v for v in value if _is_scalar(v)), "")
    return str(value) if _is_scalar(value) else ""


def _clean_description(value: Any) -> str:
    if isinstance(value, list | tuple):
        value = " ".join(str(v) for v in value if isinstance(v, str))
    text = unicodedata.normalize("NFKC", _first_text(value)).strip(_EDGE_JUNK)
    lines = [line for line in text.splitlines() if line.strip(_EDGE_JUNK)]
    line = " ".join(lines[0].split()).strip(_EDGE_JUNK) if lines else ""
    return _truncate(line, MAX_DESCRIPTION_CHARS) if _meaningful(line) else ""


def _clean_emotion(value: Any) -> str:
    text = _first_text(value).strip(_EDGE_JUNK)
    first = _EMOTION_SEP.split(text, maxsplit=1)[0] if text else ""
    return _clean_keyword(first, MAX_EMOTION_CHARS)


def _to_annotation(text: str, model: str, max_keywords: int) -> VlmAnnotation:
    fields = parse_vlm_output(text, max_keywords=max_keywords)
    return VlmAnnotation(fields.keywords, fields.description, fields.emotion, model, text)


# --- images -----------------------------------------------------------------------------------


def to_rgb(image: Image.Image) -> Image.Image:
    """The image on white: stickers are mostly transparent, and hidden pixels are often black."""
    if image.mode in ("RGBA", "LA", "PA") or "transparency" in image.info:
        rgba = image.convert("RGBA")
        white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(white, rgba).convert("RGB")
    return image.convert("RGB")


def png_data_url(image: Image.Image, max_side: int = MAX_IMAGE_SIDE) -> str:
    """The image as a base64 PNG data URL, at most `max_side` pixels on its longer side."""
    rgb = to_rgb(image)
    if max(rgb.size) > max_side:
        rgb.thumbnail((max_side, max_side))
    out = io.BytesIO()
    rgb.save(out, "PNG")
    return "data:image/png;base64," + base64.b64encode(out.getvalue()).decode("ascii")


# --- transformers backend ---------------------------------------------------------------------


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
        self.version = f"transformers:{model}{with_adapter}:{_prompt_tag(self._prompt)}"
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
        return [_to_annotation(text, self.name, self._max_keywords) for text in answers]

    def _load(self) -> _Loaded:
        with self._load_lock:
            if self._loaded is None:
                self._loaded = self._load_now()
            return self._loaded

    def _load_now(self) -> _Loaded:
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


# --- OpenAI-compatible backend ----------------------------------------------------------------


def _read_api_key(env_name: str | None) -> str | None:
    if not env_name:
        return None
    key = os.environ.get(env_name, "").strip()
    if not key:
        raise ConfigError(f"the environment variable {env_name} (the VLM API key) is not set")
    return key


def _error_detail(response: httpx.Response) -> str:
    try:
        payload = response.json()
    except ValueError:
        return response.text[:300]
    if not isinstance(payload, dict):
        return str(payload)[:300]
    error = payload.get("error", payload.get("detail", payload))
    if isinstance(error, dict):
        error = error.get("message", error)
    return str(error)[:300]


def _rejection_hint(status: int) -> str:
    if status in (401, 403):
        return " (check the API key and api_key_env)"
    if status == 404:
        return " (check base_url and the model name)"
    return ""


def _message_text(response: httpx.Response) -> str:
    try:
        content = response.json()["choices"][0]["message"]["content"]
    except (ValueError, KeyError, IndexError, TypeError) as exc:
        raise VlmError(
            f"the VLM endpoint answered without a chat completion: {response.text[:200]!r}"
        ) from exc
    if isinstance(content, list):  # content parts, as some servers return
        content = "".join(p.get("text", "") for p in content if isinstance(p, dict))
    return content if isinstance(content, str) else ""


def _retry_after(response: httpx.Response | None) -> float | None:
    value = response.headers.get("retry-after") if response is not None else None
    try:
        return float(value) if value is not None else None
    except ValueError:
        return None  # an HTTP date: fall back to the exponential backoff


class OpenAiVlmAnnotator:
    """Any OpenAI-compatible chat-completions endpoint with image input."""

    def __init__(
        self,
        model: str,
        *,
        base_url: str,
        api_key_env: str | None = None,
        timeout_s: float = 120.0,
        max_retries: int = 3,
        backoff_s: float = 1.0,
        max_new_tokens: int = 256,
        keyword_language: KeywordLanguage = "English",
        concurrency: int = 1,
    ) -> None:
        if not model:
            raise ConfigError("the openai VLM backend needs the served model's name")
        self.name = model
        self._url = base_url.rstrip("/") + "/chat/completions"
        self._key = _read_api_key(api_key_env)
        headers = {"Authorization": f"Bearer {self._key}"} if self._key else {}
        self._client = httpx.Client(timeout=httpx.Timeout(timeout_s), headers=headers)
        self._timeout_s = timeout_s
        self._max_retries = max_retries
        self._backoff_s = backoff_s
        self._max_new_tokens = max_new_tokens
        self._concurrency = max(1, concurrency)
        self._prompt = build_prompt(keyword_language)
        self._max_keywords = max_keywords_for(keyword_language)
        self.version = f"openai:{model}:{_prompt_tag(self._prompt)}"

    def __enter__(self) -> "OpenAiVlmAnnotator":
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def close(self) -> None:
        """Close the HTTP connections."""
        self._client.close()

    def annotate(self, images: Sequence[Image.Image]) -> list[VlmAnnotation]:
        """One request per image, `concurrency` at a time (servers batch concurrent requests)."""
        if self._concurrency == 1 or len(images) < 2:
            return [self._annotate_one(image) for image in images]
        with ThreadPoolExecutor(min(self._concurrency, len(images))) as pool:
            return list(pool.map(self._annotate_one, images))

    def request_body(self, image: Image.Image) -> dict[str, Any]:
        """The chat-completions request for one image."""
        content = [
            {"type": "image_url", "image_url": {"url": png_data_url(image)}},
            {"type": "text", "text": self._prompt},
        ]
        return {
            "model": self.name,
            "messages": [{"role": "user", "content": content}],
            "temperature": 0,
            "max_tokens": self._max_new_tokens,
        }

    def _annotate_one(self, image: Image.Image) -> VlmAnnotation:
        response = self._post(self.request_body(image))
        return _to_annotation(_message_text(response), self.name, self._max_keywords)

    def _redact(self, message: str) -> str:
        return message.replace(self._key, "***") if self._key else message

    def _post(self, body: dict[str, Any]) -> httpx.Response:
        failure = ""
        for attempt in range(self._max_retries + 1):
            response, failure = self._attempt(body)
            if response is not None and not failure:
                return response
            if attempt < self._max_retries:
                self._wait(attempt, response, failure)
        raise VlmUnavailableError(
            self._redact(
                f"the VLM endpoint {self._url} failed {self._max_retries + 1} times; "
                f"last: {failure}"
            )
        )

    def _attempt(self, body: dict[str, Any]) -> tuple[httpx.Response | None, str]:
        """The response and, when it is worth retrying, why it failed."""
        try:
            response = self._client.post(self._url, json=body)
        except httpx.TimeoutException:
            return None, f"no answer within {self._timeout_s:g} s"
        except httpx.TransportError as exc:
            return None, f"unreachable ({type(exc).__name__})"
        status = response.status_code
        if status == 429 or status >= 500:
            return response, f"HTTP {status}"
        if status >= 400:
            detail = f"HTTP {status}{_rejection_hint(status)}: {_error_detail(response)}"
            raise VlmError(self._redact(f"the VLM endpoint rejected the request: {detail}"))
        return response, ""

    def _wait(self, attempt: int, response: httpx.Response | None, failure: str) -> None:
        delay = _retry_after(response)
        if delay is None:
            delay = self._backoff_s * 2**attempt
        delay = min(max(delay, 0.0), MAX_BACKOFF_S)
        log.warning("VLM endpoint %s: %s; retry in %.1f s", self._url, failure, delay)
        time.sleep(delay)


# --- settings ---------------------------------------------------------------------------------


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
