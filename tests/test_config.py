"""tocsin.toml and the environment: defaults, and errors that name the file, line and key."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from bot.config import load_config
from bot.errors import ConfigError
from bot.settings import DEFAULT_DATABASE_URL, Settings

EXAMPLE = Path(__file__).resolve().parents[1] / "tocsin.example.toml"


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "tocsin.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_no_file_means_the_built_in_defaults() -> None:
    config = load_config(None)
    assert list(config.severities) == ["SEV1", "SEV2", "SEV3", "SEV4"]
    assert config.severity(1).update_every_minutes == 15
    assert list(config.roles) == ["commander", "communications", "operations"]
    assert config.default_level == 3
    assert config.incident.announce_channel == "incidents"


def test_the_shipped_example_config_is_valid() -> None:
    config = load_config(EXAMPLE)
    assert config.people and config.services


def test_a_full_config_is_read(tmp_path: Path) -> None:
    config = load_config(
        write(
            tmp_path,
            """
[incident]
channel_prefix = "incident"
announce_channel = "ops-incidents"
commander = "alice"
default_severity = 2

[severities.SEV1]
label = "P0"
colour = "#ff0000"
[severities.SEV2]
label = "P1"

[roles]
commander = "Runs it"
scribe = "Writes it down"

[people.alice]
name = "Alice Liddell"
slack = "U012AB3CD"
discord = "80351110224678912"

[services.checkout]
runbook = "https://runbooks.example/checkout"
""",
        )
    )
    assert config.incident.commander == "alice"
    assert config.severity(1).colour_int == 0xFF0000
    assert config.default_level == 2
    assert "scribe" in config.roles


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "[incident]\nchanel_prefix = 'x'\n",
            "tocsin.toml:2: unknown key 'incident.chanel_prefix' (did you mean 'channel_prefix'?)",
        ),
        (
            "[severities.SEV1]\nlabel = 'a'\ncolor = '#ffffff'\n",
            "tocsin.toml:3: unknown key 'severities.SEV1.color' (did you mean 'colour'?)",
        ),
        (
            "\n\n[severities.SEV1]\nlabel = 'a'\ncolour = 'red'\n",
            "tocsin.toml:5: severities.SEV1.colour: String should match pattern",
        ),
        (
            "[severities.CRIT]\nlabel = 'a'\n",
            "tocsin.toml: severities: Value error, severity keys are SEV1 … SEV9, not 'CRIT'",
        ),
        ("[severities.SEV1]\nlabel='a'\n[severities.SEV3]\nlabel='b'\n", "with no gaps"),
        ("[incident]\ncommander = 'zed'\n", "incident.commander names 'zed'"),
        ("[incident]\ndefault_severity = 7\n", "default_severity is 7 but only SEV1 … SEV4"),
        ("[roles]\nscribe = 'x'\n", "the 'commander' role cannot be removed"),
        ("[people.Alice]\nname = 'A'\n", "'Alice' is not a valid name"),
        ("[people.alice]\nslack = 'U1'\n", "tocsin.toml:1: people.alice.name: Field required"),
        ("[incident\n", "not valid TOML"),
        ("colour = 1\n", "tocsin.toml:1: unknown key 'colour'"),
    ],
)
def test_bad_config_names_file_line_and_key(tmp_path: Path, text: str, expected: str) -> None:
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    message = str(caught.value)
    assert str(path) in message
    assert expected.replace("tocsin.toml", str(path)) in message or expected in message


def test_a_missing_config_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="no such config file"):
        load_config(tmp_path / "nope.toml")


def test_settings_come_from_the_environment(tmp_path: Path) -> None:
    path = write(tmp_path, "")
    settings = Settings.from_env(
        {
            "TOCSIN_DATABASE_URL": "sqlite+aiosqlite:///x.db",
            "TOCSIN_CONFIG": str(path),
            "TOCSIN_HTTP_HOST": "0.0.0.0",
            "TOCSIN_HTTP_PORT": "8080",
        },
        dotenv=False,
    )
    assert settings == Settings("sqlite+aiosqlite:///x.db", path, "0.0.0.0", 8080)
    assert Settings.from_env({}, dotenv=False).database_url == DEFAULT_DATABASE_URL


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"TOCSIN_HTTP_PORT": "http"}, "TOCSIN_HTTP_PORT must be a number from 0 to 65535"),
        ({"TOCSIN_HTTP_PORT": "70000"}, "TOCSIN_HTTP_PORT must be a number from 0 to 65535"),
        ({"TOCSIN_CONFIG": "/nonexistent/tocsin.toml"}, "TOCSIN_CONFIG points to"),
    ],
)
def test_bad_environment_names_the_variable(env: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        Settings.from_env(env, dotenv=False)


def test_a_dotenv_file_fills_in_what_the_environment_lacks(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / ".env").write_text("TOCSIN_HTTP_PORT=4000\nTOCSIN_HTTP_HOST=0.0.0.0\n")
    settings = Settings.from_env({"TOCSIN_HTTP_HOST": "127.0.0.2"})
    assert (settings.http_host, settings.http_port) == ("127.0.0.2", 4000)


def test_env_example_lists_every_variable_tocsin_reads() -> None:
    root = Path(__file__).resolve().parents[1]
    source = (root / "bot" / "settings.py").read_text(encoding="utf-8")
    read = set(re.findall(r'values\.get\("([A-Z_]+)"\)', source))
    read |= set(re.findall(r'_ids\("([A-Z_]+)"', source))
    listed = (root / ".env.example").read_text(encoding="utf-8")
    assert read and {"DISCORD_TOKEN", "SLACK_BOT_TOKEN", "TOCSIN_DATABASE_URL"} <= read
    assert not {name for name in read if f"{name}=" not in listed}
