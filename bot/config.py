"""Typed settings from config.toml and the environment; tokens come only from the environment."""

import os
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError

from engine.errors import ConfigError
from engine.settings import (
    CrowdSettings,
    EngineSettings,
    IngestSettings,
    PersonalizationSettings,
    SearchSettings,
    StorageSettings,
    TextModelSettings,
    UnderstandingSettings,
    VectorSettings,
)

# Environment variable -> (section, key) in config.toml.
ENV_OVERRIDES: dict[str, tuple[str, str]] = {
    "STICKERBOT_DATA_DIR": ("storage", "data_dir"),
    "STICKERBOT_DATABASE_URL": ("storage", "database_url"),
    "STICKERBOT_CHROMA_MODE": ("vectors", "mode"),
    "STICKERBOT_CHROMA_HOST": ("vectors", "host"),
    "STICKERBOT_CHROMA_PORT": ("vectors", "port"),
    "STICKERBOT_TEXT_MODEL": ("text_model", "model"),
    "STICKERBOT_TELEGRAM_BASE_URL": ("telegram", "base_url"),
}
SECRET_KEYS = {"token", "bot_token", "api_key", "password"}


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class TelegramSettings(_Section):
    """Telegram adapter settings; the token is read from TELEGRAM_BOT_TOKEN."""

    enabled: bool = True
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


class DiscordSettings(_Section):
    """Discord adapter settings; the token is read from DISCORD_BOT_TOKEN."""

    enabled: bool = False
    admins: tuple[int, ...] = ()


class JobIntervals(_Section):
    """Seconds between runs of each background job; 0 turns a job off."""

    annotate: float = Field(default=300.0, ge=0)
    utility: float = Field(default=900.0, ge=0)
    history_queries: float = Field(default=900.0, ge=0)
    profiles: float = Field(default=300.0, ge=0)
    index: float = Field(default=600.0, ge=0)
    telegram_uploads: float = Field(default=120.0, ge=0)


class JobsSettings(_Section):
    """The background job scheduler of `stickerbot run` and `stickerbot worker`."""

    enabled: bool = True
    first_run_delay_s: float = Field(default=10.0, ge=0)  # let the bots come up first
    # A run that starts this late (the process was busy or asleep) is skipped, not run late.
    misfire_grace_s: int = Field(default=60, ge=1)
    # How long shutdown waits for running jobs before the library is left to the OS to unlock.
    shutdown_grace_s: float = Field(default=30.0, ge=0)
    intervals: JobIntervals = JobIntervals()


class AppSettings(_Section):
    """All settings of a stickerbot process."""

    storage: StorageSettings = StorageSettings()
    vectors: VectorSettings = VectorSettings()
    text_model: TextModelSettings = TextModelSettings()
    search: SearchSettings = SearchSettings()
    ingest: IngestSettings = IngestSettings()
    crowd: CrowdSettings = CrowdSettings()
    personalization: PersonalizationSettings = PersonalizationSettings()
    understanding: UnderstandingSettings = UnderstandingSettings()
    telegram: TelegramSettings = TelegramSettings()
    discord: DiscordSettings = DiscordSettings()
    jobs: JobsSettings = JobsSettings()

    def engine(self) -> EngineSettings:
        """The engine's part of the settings."""
        return EngineSettings(
            storage=self.storage,
            vectors=self.vectors,
            text_model=self.text_model,
            search=self.search,
            ingest=self.ingest,
            crowd=self.crowd,
            personalization=self.personalization,
            understanding=self.understanding,
        )

    @staticmethod
    def telegram_token() -> SecretStr | None:
        """TELEGRAM_BOT_TOKEN from the environment."""
        token = os.environ.get("TELEGRAM_BOT_TOKEN", "").strip()
        return SecretStr(token) if token else None


def _secret_paths(raw: Mapping[str, Any], prefix: str = "") -> list[str]:
    found: list[str] = []
    for key, value in raw.items():
        if key.lower() in SECRET_KEYS:
            found.append(prefix + key)
        tables = [value] if isinstance(value, Mapping) else value if isinstance(value, list) else []
        for table in tables:
            if isinstance(table, Mapping):
                found.extend(_secret_paths(table, f"{prefix}{key}."))
    return found


def _reject_secrets(raw: Mapping[str, Any], where: str) -> None:
    found = _secret_paths(raw)
    if found:
        raise ConfigError(
            f"{where}: {', '.join(found)} looks like a secret; tokens are read only from the "
            "environment (TELEGRAM_BOT_TOKEN, DISCORD_BOT_TOKEN)."
        )


def _describe(exc: ValidationError) -> str:
    # Never include the offending values: a misplaced token would end up in the message.
    return "\n".join(
        f"  {'.'.join(str(p) for p in err['loc'])}: {err['msg']}"
        for err in exc.errors(include_input=False, include_url=False)
    )


def _apply_env(raw: dict[str, Any], env: Mapping[str, str]) -> dict[str, Any]:
    merged = {k: dict(v) if isinstance(v, Mapping) else v for k, v in raw.items()}
    for var, (section, key) in ENV_OVERRIDES.items():
        if env.get(var):
            merged.setdefault(section, {})[key] = env[var]
    return merged


def config_path(explicit: Path | None, env: Mapping[str, str]) -> Path | None:
    """--config, else STICKERBOT_CONFIG, else ./config.toml when present."""
    if explicit is not None:
        return explicit
    if env.get("STICKERBOT_CONFIG"):
        return Path(env["STICKERBOT_CONFIG"])
    local = Path("config.toml")
    return local if local.is_file() else None


def load_settings(
    path: Path | None = None, env: Mapping[str, str] | None = None, **overrides: Any
) -> AppSettings:
    """Read config.toml (optional), apply environment overrides, validate."""
    env = os.environ if env is None else env
    source = config_path(path, env)
    raw: dict[str, Any] = {}
    if source is not None:
        try:
            raw = tomllib.loads(source.read_text("utf-8"))
        except (OSError, tomllib.TOMLDecodeError) as exc:
            raise ConfigError(f"cannot read config {source}: {exc}") from exc
        _reject_secrets(raw, str(source))
    merged = _apply_env(raw, env)
    for dotted, value in overrides.items():
        section, key = dotted.split("__", 1)
        merged.setdefault(section, {})[key] = value
    try:
        return AppSettings.model_validate(merged)
    except ValidationError as exc:
        raise ConfigError(
            f"invalid configuration ({source or 'defaults'}):\n{_describe(exc)}"
        ) from None
