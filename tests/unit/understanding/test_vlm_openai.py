"""The OpenAI-compatible VLM backend against a real local HTTP server that plays a script."""

import base64
import io
import json
import logging
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from PIL import Image

from engine.errors import ConfigError
from engine.understanding.vlm import (
    OpenAiVlmAnnotator,
    VlmError,
    VlmSettings,
    VlmUnavailableError,
    build_prompt,
    make_vlm_annotator,
)

SECRET = "sk-test-0123456789-very-secret"
KEY_ENV = "STICKERBOT_TEST_VLM_KEY"
COLOR_NAMES: dict[tuple[int, ...], str] = {
    (255, 0, 0): "red",
    (0, 255, 0): "green",
    (0, 0, 255): "blue",
}


@dataclass
class Step:
    """One scripted reply: status, body, extra headers, and a delay before answering."""

    status: int = 200
    body: Any = None  # None: a chat completion naming the color of the request's image
    headers: dict[str, str] = field(default_factory=dict)
    delay_s: float = 0.0


@dataclass
class FakeServer:
    """What the fake endpoint saw, and the replies it will give (the last one repeats)."""

    url: str
    script: list[Step] = field(default_factory=list)
    requests: list[dict[str, Any]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def next_step(self) -> Step:
        with self.lock:
            return self.script.pop(0) if len(self.script) > 1 else self.script[0]


def completion(content: Any) -> dict[str, Any]:
    """A minimal chat-completions response."""
    return {"choices": [{"index": 0, "message": {"role": "assistant", "content": content}}]}


def image_of(body: dict[str, Any]) -> Image.Image:
    """The image inside a request body's image_url data URL."""
    part = next(p for p in body["messages"][0]["content"] if p["type"] == "image_url")
    url = part["image_url"]["url"]
    assert url.startswith("data:image/png;base64,")
    return Image.open(io.BytesIO(base64.b64decode(url.split(",", 1)[1])))


def color_answer(body: dict[str, Any]) -> dict[str, Any]:
    """Keywords naming the image's color, so that answers can be matched to images."""
    rgb = image_of(body).convert("RGB").getpixel((0, 0))
    name = COLOR_NAMES.get(rgb, "other") if isinstance(rgb, tuple) else "other"
    text = json.dumps(
        {"keywords": [name, "sticker"], "description": f"A {name} square", "emotion": "calm"}
    )
    return completion(f"```json\n{text}\n```")


def make_handler(server: FakeServer) -> type[BaseHTTPRequestHandler]:
    """A request handler bound to `server`'s script and log."""

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            with server.lock:
                server.requests.append(
                    {"path": self.path, "headers": dict(self.headers), "body": body}
                )
            step = server.next_step()
            time.sleep(step.delay_s)
            payload = color_answer(body) if step.body is None else step.body
            data = payload.encode() if isinstance(payload, str) else json.dumps(payload).encode()
            try:
                self.send_response(step.status)
                for name, value in {"Content-Type": "application/json", **step.headers}.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)
            except (BrokenPipeError, ConnectionResetError):
                pass  # the client gave up waiting: that is what a timeout test wants

        def log_message(self, format: str, *args: Any) -> None:
            pass

    return Handler


@pytest.fixture
def server() -> Iterator[FakeServer]:
    """A fake OpenAI-compatible endpoint on an ephemeral local port."""
    fake = FakeServer(url="", script=[Step()])
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), make_handler(fake))
    httpd.daemon_threads = True
    fake.url = f"http://127.0.0.1:{httpd.server_address[1]}/v1"
    thread = threading.Thread(target=httpd.serve_forever, args=(0.02,), daemon=True)
    thread.start()
    yield fake
    httpd.shutdown()
    httpd.server_close()


@pytest.fixture
def api_key(monkeypatch: pytest.MonkeyPatch) -> str:
    """The API key, in the environment variable that the settings name."""
    monkeypatch.setenv(KEY_ENV, SECRET)
    return SECRET


def square(color: tuple[int, int, int], size: int = 24) -> Image.Image:
    """A solid RGBA sticker-like image."""
    return Image.new("RGBA", (size, size), (*color, 255))


def annotator(server: FakeServer, **options: Any) -> OpenAiVlmAnnotator:
    """An annotator for the fake server with fast retries."""
    defaults: dict[str, Any] = {"base_url": server.url, "backoff_s": 0.01, "timeout_s": 5.0}
    return OpenAiVlmAnnotator("tiny-vlm", **(defaults | options))


def test_request_shape_and_parsed_answer(server: FakeServer, api_key: str) -> None:
    with annotator(server, api_key_env=KEY_ENV, max_new_tokens=77) as vlm:
        [result] = vlm.annotate([square((255, 0, 0), size=40)])
    assert (result.keywords, result.description, result.emotion) == (
        ["red", "sticker"],
        "A red square",
        "calm",
    )
    assert result.model == "tiny-vlm" and result.raw.startswith("```json")
    [request] = server.requests
    assert request["path"] == "/v1/chat/completions"
    assert request["headers"]["Authorization"] == f"Bearer {api_key}"
    body = request["body"]
    assert (body["model"], body["temperature"], body["max_tokens"]) == ("tiny-vlm", 0, 77)
    [message] = body["messages"]
    assert message["role"] == "user"
    assert {p["type"] for p in message["content"]} == {"image_url", "text"}
    text = next(p["text"] for p in message["content"] if p["type"] == "text")
    assert text == build_prompt("English") and '"keywords"' in text
    sent = image_of(body)
    assert (sent.format, sent.size) == ("PNG", (40, 40))


def test_no_key_sends_no_authorization(server: FakeServer) -> None:
    with annotator(server) as vlm:
        vlm.annotate([square((0, 255, 0))])
    assert "Authorization" not in server.requests[0]["headers"]


def test_large_images_are_downscaled_before_sending(server: FakeServer) -> None:
    with annotator(server) as vlm:
        vlm.annotate([Image.new("RGB", (3000, 1500), (0, 0, 255))])
    assert image_of(server.requests[0]["body"]).size == (1024, 512)


def test_concurrent_requests_keep_image_order(server: FakeServer) -> None:
    colors = [(255, 0, 0), (0, 255, 0), (0, 0, 255), (255, 0, 0)]
    server.script = [Step(delay_s=0.05)]
    with annotator(server, concurrency=3) as vlm:
        results = vlm.annotate([square(c) for c in colors])
    assert [r.keywords[0] for r in results] == ["red", "green", "blue", "red"]
    assert len(server.requests) == 4


def test_retries_503_then_succeeds(server: FakeServer, caplog: pytest.LogCaptureFixture) -> None:
    server.script = [Step(503, {"error": "loading model"}), Step(502, "bad gateway"), Step()]
    with caplog.at_level(logging.WARNING), annotator(server, max_retries=3) as vlm:
        [result] = vlm.annotate([square((0, 0, 255))])
    assert result.keywords == ["blue", "sticker"]
    assert len(server.requests) == 3
    assert "HTTP 503" in caplog.text and "HTTP 502" in caplog.text


def test_gives_up_after_max_retries(server: FakeServer, api_key: str) -> None:
    server.script = [Step(503, {"error": "overloaded"})]
    with (
        annotator(server, max_retries=2, api_key_env=KEY_ENV) as vlm,
        pytest.raises(VlmUnavailableError, match=r"failed 3 times; last: HTTP 503"),
    ):
        vlm.annotate([square((255, 0, 0))])
    assert len(server.requests) == 3


def test_backoff_grows_exponentially(server: FakeServer) -> None:
    server.script = [Step(503)]
    start = time.monotonic()
    with (
        annotator(server, max_retries=3, backoff_s=0.05) as vlm,
        pytest.raises(VlmUnavailableError),
    ):
        vlm.annotate([square((255, 0, 0))])
    # Waits of 0.05 + 0.1 + 0.2 s between the four attempts.
    assert time.monotonic() - start >= 0.35
    assert len(server.requests) == 4


def test_429_honours_retry_after(server: FakeServer) -> None:
    server.script = [Step(429, {"error": {"message": "slow down"}}, {"Retry-After": "0.3"}), Step()]
    start = time.monotonic()
    with annotator(server, backoff_s=0.0) as vlm:
        [result] = vlm.annotate([square((0, 255, 0))])
    assert result.keywords[0] == "green"
    assert time.monotonic() - start >= 0.3


def test_400_is_a_clear_error_without_retry(server: FakeServer) -> None:
    server.script = [Step(400, {"error": {"message": "model does not support images"}})]
    with (
        annotator(server, max_retries=3) as vlm,
        pytest.raises(VlmError, match=r"HTTP 400.*model does not support images") as caught,
    ):
        vlm.annotate([square((255, 0, 0))])
    assert not isinstance(caught.value, VlmUnavailableError)
    assert len(server.requests) == 1


def test_404_hints_at_base_url_and_model(server: FakeServer) -> None:
    server.script = [Step(404, "404 page not found")]
    with annotator(server) as vlm, pytest.raises(VlmError, match="check base_url and the model"):
        vlm.annotate([square((255, 0, 0))])


def test_api_key_never_appears_in_errors_or_logs(
    server: FakeServer, api_key: str, caplog: pytest.LogCaptureFixture
) -> None:
    # A careless server that echoes the credentials it was given.
    server.script = [Step(401, {"error": {"message": f"invalid key Bearer {api_key}"}})]
    vlm = annotator(server, api_key_env=KEY_ENV)
    with pytest.raises(VlmError) as rejected:
        vlm.annotate([square((255, 0, 0))])
    assert "HTTP 401" in str(rejected.value) and "api_key_env" in str(rejected.value)
    server.script = [Step(503, {"error": f"overloaded, key {api_key}"})]
    with caplog.at_level(logging.DEBUG), pytest.raises(VlmUnavailableError) as unavailable:
        vlm.annotate([square((255, 0, 0))])
    vlm.close()
    for text in (str(rejected.value), str(unavailable.value), caplog.text, repr(vlm)):
        assert api_key not in text


def test_timeout_is_retried_then_reported(server: FakeServer) -> None:
    server.script = [Step(delay_s=0.6)]
    with (
        annotator(server, timeout_s=0.15, max_retries=1) as vlm,
        pytest.raises(VlmUnavailableError, match=r"no answer within 0\.15 s"),
    ):
        vlm.annotate([square((255, 0, 0))])
    assert len(server.requests) == 2


def test_timeout_then_success(server: FakeServer) -> None:
    server.script = [Step(delay_s=0.6), Step()]
    with annotator(server, timeout_s=0.15, max_retries=2) as vlm:
        [result] = vlm.annotate([square((0, 0, 255))])
    assert result.keywords[0] == "blue"


def test_unreachable_endpoint() -> None:
    probe = ThreadingHTTPServer(("127.0.0.1", 0), BaseHTTPRequestHandler)
    closed_port = probe.server_address[1]
    probe.server_close()  # nothing listens there any more
    vlm = OpenAiVlmAnnotator(
        "tiny-vlm", base_url=f"http://127.0.0.1:{closed_port}/v1", max_retries=1, backoff_s=0.01
    )
    with vlm, pytest.raises(VlmUnavailableError, match=r"unreachable \(ConnectError\)"):
        vlm.annotate([square((255, 0, 0))])


def test_answer_without_choices_is_an_error(server: FakeServer) -> None:
    server.script = [Step(200, {"object": "error", "message": "oops"})]
    with annotator(server) as vlm, pytest.raises(VlmError, match="without a chat completion"):
        vlm.annotate([square((255, 0, 0))])


def test_content_parts_and_empty_content(server: FakeServer) -> None:
    parts = [
        {"type": "text", "text": "Keywords: wave, hello;"},
        {"type": "text", "text": " Emotion: joy"},
    ]
    server.script = [Step(200, completion(parts)), Step(200, completion(None))]
    with annotator(server) as vlm:
        first, second = vlm.annotate([square((255, 0, 0)), square((0, 255, 0))])
    assert (first.keywords, first.emotion) == (["wave", "hello"], "joy")
    assert second.empty and second.raw == ""


def test_missing_key_variable_is_a_config_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(KEY_ENV, raising=False)
    with pytest.raises(ConfigError, match=KEY_ENV):
        OpenAiVlmAnnotator("m", base_url="http://127.0.0.1:9/v1", api_key_env=KEY_ENV)


def test_settings_build_the_openai_backend(server: FakeServer, api_key: str) -> None:
    settings = VlmSettings(
        backend="openai",
        model="llava:7b",
        base_url=server.url + "/",
        api_key_env=KEY_ENV,
        keyword_language=("English", "German"),
        max_retries=0,
        batch_size=2,
    )
    vlm = make_vlm_annotator(settings)
    assert isinstance(vlm, OpenAiVlmAnnotator)
    assert vlm.version.startswith("openai:llava:7b:") and api_key not in vlm.version
    with vlm:
        [result] = vlm.annotate([square((255, 0, 0))])
    assert result.model == "llava:7b"
    prompt = server.requests[0]["body"]["messages"][0]["content"][1]["text"]
    assert "English, German" in prompt
