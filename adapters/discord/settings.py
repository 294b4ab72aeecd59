"""The [discord] section of config.toml; the token itself is read from DISCORD_BOT_TOKEN."""

from pydantic import BaseModel, ConfigDict

TOKEN_ENV = "DISCORD_BOT_TOKEN"


class DiscordSettings(BaseModel):
    """Discord adapter settings; the token is read from DISCORD_BOT_TOKEN."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    enabled: bool = False
    admins: tuple[int, ...] = ()

    def secret_env_names(self) -> tuple[str, ...]:
        """The environment variables that hold this adapter's secrets."""
        return (TOKEN_ENV,)
