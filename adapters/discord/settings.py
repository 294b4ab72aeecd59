"""The [discord] section of config.toml; the token itself is read from DISCORD_BOT_TOKEN."""

from pydantic import BaseModel, ConfigDict

TOKEN_ENV = "DISCORD_BOT_TOKEN"
OFFICIAL_API = "https://discord.com/api/v10"
OFFICIAL_CDN = "https://cdn.discordapp.com"


class DiscordSettings(BaseModel):
    """Discord adapter settings; the token is read from DISCORD_BOT_TOKEN."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    # None (the default): on when DISCORD_BOT_TOKEN is set; true without a token is an error.
    enabled: bool | None = None
    # Discord user ids of the bot's operators: /status, and packs of any server or public ones.
    # Members with Manage Expressions manage their own server's packs without being listed.
    admins: tuple[int, ...] = ()
    # Servers whose command list is updated at once on start (guild commands); with none, the
    # commands are global, which Discord may take a while to show everywhere.
    guilds: tuple[int, ...] = ()
    # Anything that speaks Discord's API: a proxy, a self-hosted gateway, or a test fake.
    api_base_url: str = OFFICIAL_API
    gateway_url: str = ""  # empty: discord.py's default, or GET /gateway/bot of a custom API
    cdn_url: str = OFFICIAL_CDN
    # Stickers people send in channels the bot can read become `sent` signals (GUILD_MESSAGES
    # intent, not privileged). false: the bot does not subscribe to messages at all.
    record_sent: bool = True
    # Post picked stickers through a channel webhook under the user's name and avatar when the
    # bot may manage webhooks there; else (or when false) as the bot, "sent by @user".
    webhooks: bool = True

    def secret_env_names(self) -> tuple[str, ...]:
        """The environment variables that hold this adapter's secrets."""
        return (TOKEN_ENV,)
