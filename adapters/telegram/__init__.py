"""Telegram adapter: inline search, interaction signals, pack commands and sticker uploads."""

from adapters.telegram.application import TgApp, build_application, set_commands
from adapters.telegram.common import StatusProvider
from adapters.telegram.uploads import upload_pending

__all__ = ["StatusProvider", "TgApp", "build_application", "set_commands", "upload_pending"]
