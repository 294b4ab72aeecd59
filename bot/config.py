"""Typed settings from config.toml and the environment; tokens come only from the environment."""

import os
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from adapters.discord.settings import DiscordSettings
from adapters.telegram.settings import TelegramSettings
from engine import ConfigError, EngineSettings
from jobs.settings import JobsSettings

# Environment variable -> (section, key) in config.toml.
ENV_OVERRIDES: dict[str, tuple[str, str]] = {
    "STICKERBOT_DATA_DIR": ("storage", "data_dir"),
    "STICKERBOT_DATABASE_URL": ("storage", "database_url"),
    "STICKERBOT_CHROMA_MODE": ("vectors", "mode"),
    "STICKERBOT_CHROMA_HOST": ("vectors", "host"),
    "STICKERBOT_CHROMA_PORT": ("vectors", "port"),
    "STICKERBOT_TEXT_MODEL": ("text_model", "model"),
    "STICKERBOT_TELEGRAM_BASE_URL": ("telegram", "base_url"),
    "STICKERBOT_DISCORD_API_URL": ("discord", "api_base_url"),
    "STICKERBOT_DISCORD_GATEWAY_URL": ("discord", "gateway_url"),
    "STICKERBOT_DISCORD_CDN_URL": ("discord", "cdn_url"),
}
SECRET_KEYS = {"token", "bot_token", "api_key", "password"}


class AppSettings(EngineSettings):
    """All settings of a stickerbot process: the engine's sections, each adapter's, the jobs'."""

    telegram: TelegramSettings = TelegramSettings()
    discord: DiscordSettings = DiscordSettings()
    jobs: JobsSettings = JobsSettings()

    def engine(self) -> EngineSettings:
        """The engine's part of the settings alone."""
        fields = {name: getattr(self, name) for name in EngineSettings.model_fields}
        return EngineSettings(**fields)

    def secret_env_names(self) -> tuple[str, ...]:
        """Every environment variable that may hold a secret of this process."""
        names = self.telegram.secret_env_names() + self.discord.secret_env_names()
        vlm_key = self.understanding.vlm.api_key_env
        return names + ((vlm_key,) if vlm_key else ())


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
