"""bot.config.load_settings: config.toml, environment overrides and rejected keys."""

from pathlib import Path

import pytest

from bot.config import AppSettings, load_settings
from engine.errors import ConfigError
from engine.settings import EngineSettings

REPO_CONFIG = Path(__file__).resolve().parents[2] / "config.toml"
SECRET = "123456:SUPERSECRET-token-value"


@pytest.fixture(autouse=True)
def _no_local_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # load_settings falls back to ./config.toml; run from an empty folder so it never does.
    workdir = tmp_path / "cwd"
    workdir.mkdir()
    monkeypatch.chdir(workdir)


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "config.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_repository_config_equals_defaults() -> None:
    if not REPO_CONFIG.is_file():
        pytest.skip(f"{REPO_CONFIG} does not exist")
    assert load_settings(REPO_CONFIG, env={}) == AppSettings()


def test_no_config_gives_defaults() -> None:
    settings = load_settings(env={})
    assert settings == AppSettings()
    assert isinstance(settings.engine(), EngineSettings)


def test_file_values_are_read(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        '[search]\nfusion = "rrf"\nlocales = ["en", "ja"]\n[vectors]\nport = 9001\n',
    )
    settings = load_settings(path, env={})
    assert settings.search.fusion == "rrf"
    assert settings.search.locales == ("en", "ja")
    assert settings.vectors.port == 9001
    assert settings.storage == AppSettings().storage


def test_env_data_dir_override(tmp_path: Path) -> None:
    settings = load_settings(env={"STICKERBOT_DATA_DIR": str(tmp_path / "lib")})
    assert settings.storage.data_dir == tmp_path / "lib"
    assert settings.engine().data_dir == (tmp_path / "lib").resolve()


def test_env_beats_file(tmp_path: Path) -> None:
    path = write(tmp_path, '[storage]\ndata_dir = "/from/file"\n')
    assert load_settings(path, env={}).storage.data_dir == Path("/from/file")
    settings = load_settings(path, env={"STICKERBOT_DATA_DIR": "/from/env"})
    assert settings.storage.data_dir == Path("/from/env")


def test_empty_env_value_is_no_override(tmp_path: Path) -> None:
    path = write(tmp_path, '[storage]\ndata_dir = "/from/file"\n')
    settings = load_settings(path, env={"STICKERBOT_DATA_DIR": ""})
    assert settings.storage.data_dir == Path("/from/file")


def test_env_strings_are_coerced() -> None:
    settings = load_settings(
        env={"STICKERBOT_CHROMA_PORT": "8123", "STICKERBOT_CHROMA_MODE": "server"}
    )
    assert settings.vectors.port == 8123
    assert settings.vectors.mode == "server"


def test_stickerbot_config_env_names_the_file(tmp_path: Path) -> None:
    path = write(tmp_path, "[ingest]\nmax_pixels = 1000\n")
    settings = load_settings(env={"STICKERBOT_CONFIG": str(path)})
    assert settings.ingest.max_pixels == 1000


def test_token_in_section_rejected_without_echoing_it(tmp_path: Path) -> None:
    path = write(tmp_path, f'[telegram]\ntoken = "{SECRET}"\n')
    with pytest.raises(ConfigError, match="secret") as excinfo:
        load_settings(path, env={})
    assert SECRET not in str(excinfo.value)


@pytest.mark.parametrize("key", ["bot_token", "api_key", "password"])
def test_other_secret_keys_rejected(tmp_path: Path, key: str) -> None:
    path = write(tmp_path, f'[discord]\n{key} = "x"\n')
    with pytest.raises(ConfigError, match="secret"):
        load_settings(path, env={})


def test_top_level_token_rejected_without_echoing_it(tmp_path: Path) -> None:
    path = write(tmp_path, f'token = "{SECRET}"\n')
    with pytest.raises(ConfigError, match="token looks like a secret") as excinfo:
        load_settings(path, env={})
    assert SECRET not in str(excinfo.value)


def test_nested_token_rejected_without_echoing_it(tmp_path: Path) -> None:
    path = write(tmp_path, f'[telegram.extra]\ntoken = "{SECRET}"\n')
    with pytest.raises(ConfigError, match=r"telegram\.extra\.token looks like a secret") as exc:
        load_settings(path, env={})
    assert SECRET not in str(exc.value)


def test_every_secret_key_is_named(tmp_path: Path) -> None:
    path = write(tmp_path, f'Token = "{SECRET}"\n[discord]\napi_key = "{SECRET}"\n')
    with pytest.raises(ConfigError, match="secret") as excinfo:
        load_settings(path, env={})
    message = str(excinfo.value)
    assert "Token" in message
    assert "discord.api_key" in message
    assert SECRET not in message


def test_token_in_array_of_tables_named_as_secret(tmp_path: Path) -> None:
    path = write(tmp_path, f'[[telegram.bots]]\ntoken = "{SECRET}"\n')
    with pytest.raises(ConfigError, match="secret"):
        load_settings(path, env={})


def test_token_in_array_of_tables_not_echoed(tmp_path: Path) -> None:
    path = write(tmp_path, f'[[telegram.bots]]\ntoken = "{SECRET}"\n')
    with pytest.raises(ConfigError) as excinfo:
        load_settings(path, env={})
    assert SECRET not in str(excinfo.value)


@pytest.mark.parametrize(
    "text",
    [
        f'[vectors]\nport = "{SECRET}"\n',
        f'[storage]\nnot_a_setting = "{SECRET}"\n',
        f'[search]\nfusion = "{SECRET}"\n',
        f'[telegram]\nadmins = ["{SECRET}"]\n',
        f'misplaced = "{SECRET}"\n',
    ],
)
def test_validation_errors_do_not_echo_values(tmp_path: Path, text: str) -> None:
    with pytest.raises(ConfigError, match="invalid configuration") as excinfo:
        load_settings(write(tmp_path, text), env={})
    message = str(excinfo.value)
    assert SECRET not in message
    assert "input_value" not in message


def test_env_value_not_echoed() -> None:
    with pytest.raises(ConfigError, match=r"vectors\.port") as excinfo:
        load_settings(env={"STICKERBOT_CHROMA_PORT": SECRET})
    assert SECRET not in str(excinfo.value)


def test_top_level_token_is_rejected(tmp_path: Path) -> None:
    path = write(tmp_path, f'token = "{SECRET}"\n')
    with pytest.raises(ConfigError):
        load_settings(path, env={})


@pytest.mark.parametrize(
    "text",
    [
        "[storage]\nnot_a_setting = 1\n",
        "[no_such_section]\nx = 1\n",
        '[search]\nfusion = "bogus"\n',
        '[vectors]\nport = "not a port"\n',
    ],
)
def test_unknown_or_invalid_keys_rejected(tmp_path: Path, text: str) -> None:
    with pytest.raises(ConfigError, match="invalid configuration"):
        load_settings(write(tmp_path, text), env={})


def test_bad_toml(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read config"):
        load_settings(write(tmp_path, "[storage\n"), env={})


def test_missing_explicit_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError):
        load_settings(tmp_path / "missing.toml", env={})


def test_settings_are_frozen() -> None:
    settings = load_settings(env={})
    with pytest.raises(ValueError, match="frozen"):
        settings.storage.data_dir = Path("/elsewhere")  # type: ignore[misc]


def test_some_field_weights_keep_the_defaults_of_the_others(tmp_path: Path) -> None:
    path = write(tmp_path, "[search.field_weights]\nocr = 2.5\n")
    weights = load_settings(path, env={}).search.field_weights
    assert weights["ocr"] == 2.5
    assert weights["caption"] == EngineSettings().search.field_weights["caption"] > 0


def test_an_unknown_field_weight_is_named(tmp_path: Path) -> None:
    path = write(tmp_path, "[search.field_weights]\nocrr = 2.5\n")
    with pytest.raises(ConfigError, match="ocrr"):
        load_settings(path, env={})
