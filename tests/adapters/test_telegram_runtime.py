"""The Telegram adapter's runtime checks: webhook mode's URL, secret and extra."""

import pytest

from adapters.telegram import runtime
from adapters.telegram.runtime import webhook_secret
from adapters.telegram.settings import TelegramSettings
from engine import ConfigError


def _cfg(**fields: object) -> TelegramSettings:
    return TelegramSettings.model_validate(fields)


def test_webhook_needs_an_https_url() -> None:
    cfg = _cfg(mode="webhook", webhook_url="http://x.org/hook")
    with pytest.raises(ConfigError, match="https"):
        webhook_secret(cfg, {})


def test_webhook_needs_a_valid_secret(monkeypatch: pytest.MonkeyPatch) -> None:
    # Pretend the webhook extra (tornado) is installed; the secret check comes after it.
    monkeypatch.setattr(runtime, "find_spec", lambda name: object())
    cfg = _cfg(mode="webhook", webhook_url="https://x.org/hook")
    with pytest.raises(ConfigError, match=r"\$TELEGRAM_WEBHOOK_SECRET"):
        webhook_secret(cfg, {})
    with pytest.raises(ConfigError, match="A-Z"):
        webhook_secret(cfg, {"TELEGRAM_WEBHOOK_SECRET": "has spaces in it"})
    assert webhook_secret(cfg, {"TELEGRAM_WEBHOOK_SECRET": "ok_secret-1"}) == "ok_secret-1"
    assert webhook_secret(_cfg(), {}) is None  # polling needs none


def test_webhook_without_the_extra_says_how_to_install_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(runtime, "find_spec", lambda name: None)
    cfg = _cfg(mode="webhook", webhook_url="https://x.org/hook")
    with pytest.raises(ConfigError, match=r"python-telegram-bot\[webhooks\]"):
        webhook_secret(cfg, {"TELEGRAM_WEBHOOK_SECRET": "ok"})
