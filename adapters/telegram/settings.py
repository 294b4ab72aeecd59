"""The [telegram] section of config.toml; the token itself is read from TELEGRAM_BOT_TOKEN."""

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

TOKEN_ENV = "TELEGRAM_BOT_TOKEN"


class TelegramSettings(BaseModel):
    """Telegram adapter settings; the token is read from TELEGRAM_BOT_TOKEN."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    # None (the default): on when TELEGRAM_BOT_TOKEN is set; true without a token is an error.
    enabled: bool | None = None
    base_url: str = "https://api.telegram.org/bot"
    admins: tuple[int, ...] = ()
    # How updates arrive: "polling" needs no public address; "webhook" needs webhook_url.
    mode: Literal["polling", "webhook"] = "polling"
    webhook_url: str = ""  # public HTTPS URL Telegram posts to; its path is served locally
    webhook_listen: str = "127.0.0.1"  # behind a reverse proxy by default
    webhook_port: int = Field(default=8443, ge=1, le=65535)
    # The NAME of the environment variable holding the webhook secret, never the secret itself.
    webhook_secret_env: str = "TELEGRAM_WEBHOOK_SECRET"
    storage_chat_id: int | None = None  # chat the bot uploads folder/Discord stickers into
    upload_batch: int = Field(default=20, ge=1, le=100)  # uploads per run of the upload job
    auto_accept_packs: bool = False  # import packs users propose without an admin's approval

    def secret_env_names(self) -> tuple[str, ...]:
        """The environment variables that hold this adapter's secrets."""
        return (TOKEN_ENV, self.webhook_secret_env)
