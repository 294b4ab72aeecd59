"""Any OpenAI-compatible chat-completions endpoint with image input (vLLM, Ollama, llama.cpp)."""

import logging
import os
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from types import TracebackType
from typing import Any

import httpx
from PIL import Image

from engine.errors import ConfigError
from engine.understanding.vlm.images import png_data_url
from engine.understanding.vlm.parse import to_annotation
from engine.understanding.vlm.prompt import build_prompt, max_keywords_for, prompt_tag
from engine.understanding.vlm.types import (
    KeywordLanguage,
    VlmAnnotation,
    VlmError,
    VlmUnavailableError,
)

log = logging.getLogger(__name__)

MAX_BACKOFF_S = 30.0


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
        # The token budget changes the answers; the endpoint's address is left out, since the
        # served model's name says which model answers.
        generation = f"max_new_tokens={max_new_tokens}"
        self.version = f"openai:{model}:{prompt_tag(self._prompt)}:{generation}"

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
        return to_annotation(_message_text(response), self.name, self._max_keywords)

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
