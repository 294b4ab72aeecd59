"""bot.app: the bot's lifecycle with a stand-in adapter, signals, startup errors, redaction."""

import asyncio
import io
import logging
import os
import queue
import re
import signal
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest

from adapters.base import JobFunc, StartupError, StatusSource
from bot.app import enabled_adapters, run_bot, secret_values
from bot.cli import main
from bot.config import AppSettings, load_settings
from engine import ConfigError, LibraryLockedError, RedactingFilter, Redactor, SearchService
from engine.lock import WriterLock
from jobs.settings import JobsSettings

TOKEN = "123456789:AAH-secret_Token-value-xyz"
REPO = Path(__file__).resolve().parents[2]
TIMESTAMPED = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} (INFO|WARNING|ERROR|DEBUG) ")
CONFIG = """\
[search]
dense = false
[jobs]
first_run_delay_s = 0
shutdown_grace_s = 5
[jobs.intervals]
annotate = 0
utility = 0.2
history_queries = 0
profiles = 0
index = 0
telegram_uploads = 0.2
"""


# --- redaction ------------------------------------------------------------------------------


def _logger_with_filter(secrets: list[str]) -> tuple[logging.Logger, io.StringIO]:
    out = io.StringIO()
    handler = logging.StreamHandler(out)
    handler.setFormatter(logging.Formatter("%(name)s %(message)s"))
    handler.addFilter(RedactingFilter(Redactor(secrets)))
    logger = logging.getLogger("test_app.redaction")
    logger.handlers[:] = [handler]
    logger.propagate = False
    logger.setLevel(logging.DEBUG)
    return logger, out


def test_redacting_filter_hides_tokens_in_messages_args_children_and_tracebacks() -> None:
    logger, out = _logger_with_filter([TOKEN])
    logger.info("POST https://api.telegram.org/bot%s/getUpdates", TOKEN)
    logging.getLogger("test_app.redaction.child").warning("escaped: %s", TOKEN.replace(":", "%3A"))
    try:
        raise RuntimeError(f"The token `{TOKEN}` was rejected by the server.")
    except RuntimeError:
        logger.exception("failed")
    text = out.getvalue()
    assert TOKEN not in text and "AAH-secret" not in text
    assert "bot[REDACTED]/getUpdates" in text
    assert "test_app.redaction.child escaped: [REDACTED]" in text
    assert "Traceback" in text and "The token `[REDACTED]` was rejected" in text


def test_redactor_ignores_short_values_and_prefers_longest() -> None:
    redact = Redactor(["abc", TOKEN, TOKEN + "-longer"])
    assert redact("abc and " + TOKEN + "-longer") == "abc and [REDACTED]"
    assert redact("nothing here") == "nothing here"


def test_secret_values_come_from_the_environment() -> None:
    settings = AppSettings.model_validate({"telegram": {"webhook_secret_env": "MY_HOOK"}})
    env = {"TELEGRAM_BOT_TOKEN": f" {TOKEN} ", "MY_HOOK": "hook-secret-123", "OTHER": "x" * 20}
    assert secret_values(settings, env) == [TOKEN, "hook-secret-123"]


# --- configuration errors -------------------------------------------------------------------


def _settings(**sections: Mapping[str, object]) -> AppSettings:
    return AppSettings.model_validate(sections)


def test_enabled_telegram_without_token_is_a_clear_error() -> None:
    with pytest.raises(ConfigError, match="TELEGRAM_BOT_TOKEN is not set"):
        enabled_adapters(_settings(telegram={"enabled": True}), Redactor([]), env={})


def test_enabled_discord_without_token_is_a_clear_error() -> None:
    env = {"TELEGRAM_BOT_TOKEN": TOKEN}
    with pytest.raises(ConfigError, match=r"discord\.enabled is true but DISCORD_BOT_TOKEN"):
        enabled_adapters(_settings(discord={"enabled": True}), Redactor([]), env=env)


def test_no_token_and_no_adapter_points_to_the_worker() -> None:
    with pytest.raises(ConfigError, match="stickerbot worker"):
        enabled_adapters(_settings(), Redactor([]), env={})
    with pytest.raises(ConfigError, match="stickerbot worker"):
        env = {"TELEGRAM_BOT_TOKEN": TOKEN}
        enabled_adapters(_settings(telegram={"enabled": False}), Redactor([]), env=env)


def test_by_default_each_adapter_runs_when_its_token_is_set() -> None:
    def names(env: dict[str, str], **sections: Mapping[str, object]) -> list[str]:
        factories = enabled_adapters(_settings(**sections), Redactor([]), env=env)
        return [f.__qualname__.split(".")[0] for f in factories]

    assert names({"TELEGRAM_BOT_TOKEN": TOKEN}) == ["telegram_adapter"]
    assert names({"DISCORD_BOT_TOKEN": "d" * 30}) == ["discord_adapter"]
    both = {"TELEGRAM_BOT_TOKEN": TOKEN, "DISCORD_BOT_TOKEN": "d" * 30}
    assert names(both) == ["telegram_adapter", "discord_adapter"]
    assert names(both, discord={"enabled": False}) == ["telegram_adapter"]


@pytest.fixture
def restore_logging() -> Iterator[None]:
    """configure_logging changes the root logger: put it back after the test."""
    root = logging.getLogger()
    level, filters = root.level, {h: list(h.filters) for h in root.handlers}
    yield
    root.setLevel(level)
    for handler, kept in filters.items():
        handler.filters[:] = kept


def test_cli_run_without_token_fails_in_one_line(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    restore_logging: None,
) -> None:
    monkeypatch.delenv("TELEGRAM_BOT_TOKEN", raising=False)
    monkeypatch.delenv("DISCORD_BOT_TOKEN", raising=False)
    config = tmp_path / "config.toml"
    config.write_text(CONFIG, encoding="utf-8")
    data = tmp_path / "data"
    argv = ["stickerbot", "--config", str(config), "--data-dir", str(data), "run"]
    monkeypatch.setattr(sys, "argv", argv)
    with pytest.raises(SystemExit) as exit_info:
        main()
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert err.strip().splitlines() == [
        "error: no chat adapter is enabled: export TELEGRAM_BOT_TOKEN or DISCORD_BOT_TOKEN "
        "(or both), or run `stickerbot worker` for the background jobs alone"
    ]
    assert not data.exists()  # failed before opening (and locking) the library


# --- lifecycle in this process ----------------------------------------------------------------


class StandIn:
    """A fake of our Adapter interface that records its lifecycle."""

    name = "standin"

    def __init__(self, events: list[str], fail_start: bool = False) -> None:
        self.events = events
        self.fail_start = fail_start
        self.started = asyncio.Event()

    def __call__(self, svc: SearchService, status: StatusSource) -> "StandIn":
        self.events.append(f"{self.name} built")
        return self

    async def start(self) -> None:
        self.events.append(f"{self.name} start")
        if self.fail_start:
            raise StartupError("platform said no")
        self.started.set()

    async def stop(self) -> None:
        self.events.append(f"{self.name} stop")

    def status_lines(self) -> list[str]:
        return [f"{self.name}: fine"]

    def jobs(self) -> Mapping[str, JobFunc]:
        return {}


def _lib_settings(tmp_path: Path) -> AppSettings:
    return load_settings(tmp_path / "none.toml", env={}, storage__data_dir=str(tmp_path / "lib"))


def _assert_unlocked(tmp_path: Path) -> None:
    lock = WriterLock(tmp_path / "lib")
    lock.acquire()  # raises LibraryLockedError if run_bot had kept it
    lock.release()


@pytest.fixture
def no_config_file(tmp_path: Path) -> Path:
    """load_settings(explicit path) needs the file to exist."""
    (tmp_path / "none.toml").write_text("[search]\ndense = false\n[jobs]\nenabled = false\n")
    return tmp_path


async def test_sigint_stops_run_bot_and_releases_the_library(no_config_file: Path) -> None:
    events: list[str] = []
    adapter = StandIn(events)
    task = asyncio.create_task(run_bot(_lib_settings(no_config_file), adapters=[adapter]))
    await asyncio.wait_for(adapter.started.wait(), 30)
    os.kill(os.getpid(), signal.SIGINT)  # run_bot's loop handler takes it, not pytest
    await asyncio.wait_for(task, 30)
    assert events == ["standin built", "standin start", "standin stop"]
    _assert_unlocked(no_config_file)


async def test_failed_start_stops_what_started_and_releases_the_library(
    no_config_file: Path,
) -> None:
    events: list[str] = []
    good, bad = StandIn(events), StandIn(events, fail_start=True)
    bad.name = "bad"
    with pytest.raises(StartupError, match="platform said no"):
        await run_bot(_lib_settings(no_config_file), adapters=[good, bad])
    assert events == [
        "standin built",
        "bad built",
        "standin start",
        "bad start",
        "bad stop",  # half-started: stopped too
        "standin stop",
    ]
    _assert_unlocked(no_config_file)


async def test_a_second_writer_is_refused_with_the_lock_message(no_config_file: Path) -> None:
    settings = _lib_settings(no_config_file).model_copy(
        update={"jobs": JobsSettings(first_run_delay_s=3600)}
    )
    with WriterLock(no_config_file / "lib"), pytest.raises(LibraryLockedError, match="in use by"):
        await run_bot(settings, with_adapters=False)


async def test_nothing_to_run_is_an_error(no_config_file: Path) -> None:
    with pytest.raises(ConfigError, match="nothing to run"):
        await run_bot(_lib_settings(no_config_file), with_adapters=False)


# --- real processes and real signals ----------------------------------------------------------


class Process:
    """A child process whose stderr is read line by line while it runs."""

    def __init__(self, args: list[str], cwd: Path, env: Mapping[str, str]) -> None:
        self.proc = subprocess.Popen(
            args,
            cwd=cwd,
            env=dict(env),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        self.lines: list[str] = []
        self._queue: queue.Queue[str | None] = queue.Queue()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            self._queue.put(line.rstrip("\n"))
        self._queue.put(None)

    def wait_for(self, text: str, timeout: float = 60.0) -> None:
        """Read stderr until a line contains `text`."""
        while not any(text in line for line in self.lines):
            try:
                line = self._queue.get(timeout=timeout)
            except queue.Empty:
                pytest.fail(f"no {text!r} within {timeout}s:\n" + "\n".join(self.lines))
            if line is None:
                pytest.fail(f"exited before {text!r}:\n" + "\n".join(self.lines))
            self.lines.append(line)

    def kill(self) -> None:
        """Make sure the child is gone (after a failed assertion)."""
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()

    def stop(self, sig: signal.Signals = signal.SIGTERM, timeout: float = 30.0) -> int:
        """Send `sig`, wait for the exit and the rest of stderr; return the exit code."""
        self.proc.send_signal(sig)
        code = self.proc.wait(timeout)
        self._reader.join(timeout)
        while (line := self._queue.get_nowait()) is not None:
            self.lines.append(line)
        return code


def _child_env(**extra: str) -> dict[str, str]:
    skip = ("STICKERBOT_", "TELEGRAM_", "DISCORD_")
    env = {k: v for k, v in os.environ.items() if not k.startswith(skip)}
    env["PYTHONPATH"] = str(REPO)
    return {**env, **extra}


STAND_IN_SCRIPT = textwrap.dedent(
    """
    import logging, os, sys
    from pathlib import Path
    from bot.app import run
    from bot.config import load_settings

    log = logging.getLogger("standin")

    class StandIn:
        name = "standin"
        def __init__(self, svc, status):
            self.status = status
        async def start(self):
            log.info("standin started with token %s", os.environ["TELEGRAM_BOT_TOKEN"])
        async def stop(self):
            log.info("standin stopped; status: %s", " | ".join(self.status.status_lines()))
        def status_lines(self):
            return ["standin: fine"]
        def jobs(self):
            return {"telegram_uploads": self.upload}
        async def upload(self, svc):
            return "standin upload ran"

    settings = load_settings(Path(sys.argv[1]), storage__data_dir=sys.argv[2])
    run(settings, adapters=[StandIn])
    """
)


@pytest.fixture
def config_file(tmp_path: Path) -> Path:
    path = tmp_path / "config.toml"
    path.write_text(CONFIG, encoding="utf-8")
    return path


@pytest.mark.slow  # starts processes
def test_run_bot_with_a_stand_in_adapter_stops_cleanly_on_sigterm(
    tmp_path: Path, config_file: Path
) -> None:
    script = tmp_path / "standin.py"
    script.write_text(STAND_IN_SCRIPT, encoding="utf-8")
    args = [sys.executable, str(script), str(config_file), str(tmp_path / "lib")]
    child = Process(args, tmp_path, _child_env(TELEGRAM_BOT_TOKEN=TOKEN))
    child.wait_for("stickerbot running (standin, jobs)")
    child.wait_for("job telegram_uploads: standin upload ran")  # the adapter's own job
    child.wait_for("job utility: 0 stickers with utility")
    code = child.stop(signal.SIGTERM)
    log = "\n".join(child.lines)
    assert code == 0, log
    assert "received SIGTERM, stopping" in log
    # One status for every bot: the library's lines, each adapter's, then the jobs'.
    assert "standin stopped; status: Library: 0 stickers in 0 packs" in log
    assert "| standin: fine | utility every 0.2s: last run" in log
    assert child.lines[-1].endswith("stickerbot stopped")
    assert "standin started with token [REDACTED]" in log
    assert TOKEN not in log
    assert "Traceback" not in log
    assert all(TIMESTAMPED.match(line) for line in child.lines), log


@pytest.mark.slow  # starts processes
def test_worker_command_runs_jobs_and_stops_cleanly_on_sigterm(
    tmp_path: Path, config_file: Path
) -> None:
    args = [sys.executable, "-m", "bot", "--config", str(config_file)]
    args += ["--data-dir", str(tmp_path / "lib"), "worker"]
    child = Process(args, tmp_path, _child_env())
    child.wait_for("stickerbot running (jobs)")
    child.wait_for("job utility: 0 stickers with utility")
    code = child.stop(signal.SIGTERM)
    log = "\n".join(child.lines)
    assert code == 0, log
    assert child.lines[-1].endswith("stickerbot stopped"), log
    assert "telegram_uploads" not in log  # needs the bot: only `stickerbot run` schedules it
    assert "Traceback" not in log


@pytest.mark.slow  # starts processes
async def test_stickerbot_run_with_the_telegram_adapter_against_a_fake_bot_api(
    tmp_path: Path,
) -> None:
    fake = pytest.importorskip("tests.fakes.telegram_api")
    config = tmp_path / "config.toml"
    config.write_text(CONFIG + "[telegram]\nadmins = [42]\n", encoding="utf-8")
    api = fake.FakeBotApi()
    await api.start()
    env = _child_env(TELEGRAM_BOT_TOKEN=api.token, STICKERBOT_TELEGRAM_BASE_URL=api.base_url)
    args = [sys.executable, "-m", "bot", "-v", "--config", str(config)]
    child = Process([*args, "--data-dir", str(tmp_path / "lib"), "run"], tmp_path, env)
    try:
        # Blocking reads go to a thread: the fake API is served by this test's event loop.
        await asyncio.to_thread(child.wait_for, "stickerbot running (telegram, jobs)")
        await asyncio.to_thread(child.wait_for, "job telegram_uploads: 0 stickers uploaded")
        api.push_update(fake.Updates().command(42, "/status"))
        await _until_text(api, 42, "utility every 0.2s")
        code = await asyncio.to_thread(child.stop, signal.SIGTERM)
    finally:
        child.kill()
        await api.stop()
    log = "\n".join(child.lines)
    assert code == 0, log
    assert api.calls_to("setMyCommands")  # post_init ran in the manual lifecycle
    assert "telegram adapter stopped" in log
    assert child.lines[-1].endswith("stickerbot stopped"), log
    assert "/bot[REDACTED]/getUpdates" in log  # -v logs request URLs: the token is hidden
    assert api.token not in log


@pytest.mark.slow  # starts processes
async def test_stickerbot_run_with_only_a_discord_token_against_a_fake_discord(
    tmp_path: Path,
) -> None:
    fake = pytest.importorskip("tests.fakes.discord_api")
    config = tmp_path / "config.toml"
    config.write_text(CONFIG + "[discord]\nadmins = [7]\n", encoding="utf-8")  # no [telegram]
    api = fake.FakeDiscord()
    await api.start()
    guild = int(api.add_guild("Cat Club")["id"])
    env = _child_env(
        DISCORD_BOT_TOKEN=api.token,
        STICKERBOT_DISCORD_API_URL=api.api_base_url,
        STICKERBOT_DISCORD_CDN_URL=api.cdn_url,
    )
    args = [sys.executable, "-m", "bot", "--config", str(config)]
    child = Process([*args, "--data-dir", str(tmp_path / "lib"), "run"], tmp_path, env)
    try:
        await asyncio.to_thread(child.wait_for, "stickerbot running (discord, jobs)")
        await asyncio.to_thread(child.wait_for, "job utility: 0 stickers with utility")
        status = await api.slash("status", user_id=7, guild_id=guild)
        await status.until(lambda r: "utility every 0.2s" in r.content, timeout=30)
        code = await asyncio.to_thread(child.stop, signal.SIGTERM)
    finally:
        child.kill()
        await api.stop()
    log = "\n".join(child.lines)
    assert code == 0, log
    assert "Library: 0 stickers in 0 packs" in status.content
    assert api.commands[None], "commands published"
    assert "discord adapter stopped" in log
    assert child.lines[-1].endswith("stickerbot stopped"), log
    assert api.token not in log and "Traceback" not in log


async def _until_text(api: Any, chat_id: int, text: str, timeout: float = 30.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not any(text in t for t in api.texts(chat_id)):
        if asyncio.get_running_loop().time() > deadline:
            pytest.fail(f"no message with {text!r} in chat {chat_id}: {api.texts(chat_id)}")
        await asyncio.sleep(0.05)


class HangingVlm:
    """An OpenAI-compatible endpoint that accepts each request and never answers it."""

    def __init__(self) -> None:
        import http.server

        self.requests = threading.Event()
        hang = threading.Event()
        seen = self.requests

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                seen.set()
                hang.wait(120)  # longer than any shutdown may take

            def log_message(self, *_args: object) -> None:
                pass

        self._hang = hang
        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/v1"

    def close(self) -> None:
        self._hang.set()
        self.server.shutdown()


@pytest.mark.slow  # starts processes
def test_sigterm_ends_the_worker_within_seconds_while_a_model_call_hangs(
    tmp_path: Path, make_png: Any
) -> None:
    """The annotate job is stuck in a VLM request that never returns: the process still goes."""
    vlm = HangingVlm()
    (tmp_path / "pack").mkdir()
    for i in range(3):
        (tmp_path / "pack" / f"{i}.png").write_bytes(make_png((40 * i, 90, 200, 255)))
    config = tmp_path / "config.toml"
    config.write_text(
        "[search]\ndense = false\n[jobs]\nfirst_run_delay_s = 0\n"
        "[jobs.intervals]\nannotate = 1\nutility = 0\nhistory_queries = 0\nprofiles = 0\n"
        "index = 0\ntelegram_uploads = 0\n"
        '[understanding]\nstages = ["vlm"]\n'
        f'[understanding.vlm]\nbackend = "openai"\nmodel = "m"\nbase_url = "{vlm.url}"\n'
        "timeout_s = 100\nmax_retries = 0\n",
        encoding="utf-8",
    )
    base = [
        sys.executable,
        "-m",
        "bot",
        "--config",
        str(config),
        "--data-dir",
        str(tmp_path / "lib"),
    ]
    imported = subprocess.run([*base, "import", str(tmp_path / "pack"), "--pack", "p"], check=False)
    assert imported.returncode == 0
    child = Process([*base, "worker"], tmp_path, _child_env())
    try:
        child.wait_for("stickerbot running (jobs)")
        assert vlm.requests.wait(60), "the annotate job reached the model"
        started = time.monotonic()
        code = child.stop(signal.SIGTERM, timeout=30)
        took = time.monotonic() - started
    finally:
        child.kill()
        vlm.close()
    log = "\n".join(child.lines)
    assert code == 0, log
    assert took < 10, f"SIGTERM took {took:.1f}s:\n{log}"
    assert "exiting without waiting for ['annotate']" in log
    print(f"SIGTERM to exit: {took:.1f}s")
    # Nothing was lost: the library opens again, and the three stickers still wait for the VLM.
    settings = load_settings(config, env={}, storage__data_dir=str(tmp_path / "lib"))
    with SearchService.open(settings.engine()) as svc:
        assert svc.understanding.backlog() == 3
