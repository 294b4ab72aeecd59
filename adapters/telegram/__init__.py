"""Telegram adapter: inline search, interaction signals, pack commands and sticker uploads."""

from adapters.telegram.application import TgApp, build_application, set_commands
from adapters.telegram.runtime import TelegramRuntime, telegram_adapter, webhook_secret
from adapters.telegram.settings import TelegramSettings
from adapters.telegram.uploads import upload_pending

__all__ = [
    "TelegramRuntime",
    "TelegramSettings",
    "TgApp",
    "build_application",
    "set_commands",
    "telegram_adapter",
    "upload_pending",
    "webhook_secret",
]
