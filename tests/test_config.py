"""tocsin.toml and the environment: defaults, and errors that name the file, line and key."""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path

import pytest

from bot.config import load_config
from bot.errors import ConfigError
from bot.plugins import config_models, discover
from bot.settings import DEFAULT_DATABASE_URL, VARIABLES, Settings

EXAMPLE = Path(__file__).resolve().parents[1] / "tocsin.example.toml"


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "tocsin.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_no_file_means_the_built_in_defaults() -> None:
    config = load_config(None)
    assert list(config.severities) == ["SEV1", "SEV2", "SEV3", "SEV4"]
    assert config.severity(1).update_every == timedelta(minutes=15)
    assert config.severity(4).update_every is None
    assert list(config.roles) == ["commander", "communications", "operations"]
    assert config.default_level == 3
    assert config.incident.announce_channel == "incidents"


def test_the_shipped_example_config_is_valid() -> None:
    config = load_config(EXAMPLE, config_models(discover()))
    assert config.people and config.services
    assert config.people["alice"].ids == {"slack": "U012AB3CD", "discord": "80351110224678912"}
    assert config.sections["discord"].category == "Incidents"


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
update_every = "1h30m"
[severities.SEV2]
label = "P1"
update_every = "30s"

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
    assert config.severity(1).update_every == timedelta(hours=1, minutes=30)
    assert config.severity(2).update_every == timedelta(seconds=30)
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
        ("[people.Alice]\nname = 'A'\n", "write the person key 'Alice' in lowercase: 'alice'"),
        ("[people.alice]\nslack = 'U1'\n", "tocsin.toml:1: people.alice.name: Field required"),
        ("[incident\n", "not valid TOML"),
        ("colour = 1\n", "tocsin.toml:1: unknown key 'colour'"),
        (
            "[severities.SEV1]\nlabel = 'a'\nupdate_every_minutes = 15\n",
            "tocsin.toml:3: unknown key 'severities.SEV1.update_every_minutes' "
            "(did you mean 'update_every'?)",
        ),
        (
            "[severities.SEV1]\nlabel = 'a'\nupdate_every = '5 minutes'\n",
            "tocsin.toml:3: severities.SEV1.update_every: Value error, '5 minutes' is not a "
            'duration: write it like "30s"',
        ),
        ("[severities.SEV1]\nlabel = 'a'\nupdate_every = '-5m'\n", "'-5m' is not a duration"),
        ("[severities.SEV1]\nlabel = 'a'\nupdate_every = 15\n", "write a duration as a string"),
        (
            "[people.alice]\nname = 'A'\nslak = 'U1'\n",
            "tocsin.toml:3: unknown key 'people.alice.slak' (did you mean 'slack'?); a person "
            "has a name and an id for each platform: console, discord, slack",
        ),
        (
            "[discord]\ncategry = 'x'\n",
            "tocsin.toml:2: unknown key 'discord.categry' (did you mean 'category'?)",
        ),
        ("[console]\nx = 1\n", "[console] takes no settings"),
        ("[incident]\nplatform = 7\n", "incident.platform: Input should be a valid string"),
    ],
)
def test_bad_config_names_file_line_and_key(tmp_path: Path, text: str, expected: str) -> None:
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as caught:
        load_config(path, config_models(discover()))
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
    assert (settings.database_url, settings.config_path) == ("sqlite+aiosqlite:///x.db", path)
    assert (settings.http_host, settings.http_port) == ("0.0.0.0", 8080)
    assert settings.job_lease == timedelta(seconds=30) and settings.sweep_every.total_seconds() == 2
    assert Settings.from_env({}, dotenv=False).database_url == DEFAULT_DATABASE_URL
    tuned = Settings.from_env(
        {"TOCSIN_JOB_LEASE": "2s", "TOCSIN_SWEEP_EVERY": "1s", "TOCSIN_EFFECT_TIMEOUT": "1m"},
        dotenv=False,
    )
    assert (tuned.job_lease, tuned.sweep_every, tuned.effect_timeout) == (
        timedelta(seconds=2),
        timedelta(seconds=1),
        timedelta(minutes=1),
    )


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"TOCSIN_HTTP_PORT": "http"}, "TOCSIN_HTTP_PORT must be a number from 0 to 65535"),
        ({"TOCSIN_HTTP_PORT": "70000"}, "TOCSIN_HTTP_PORT must be a number from 0 to 65535"),
        ({"TOCSIN_CONFIG": "/nonexistent/tocsin.toml"}, "TOCSIN_CONFIG points to"),
        ({"TOCSIN_JOB_LEASE": "thirty"}, "TOCSIN_JOB_LEASE: 'thirty' is not a duration"),
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
    declared = set(VARIABLES)
    for plugin in discover().values():
        declared |= set(plugin.variables)
    read: set[str] = set()
    for path in [root / "bot" / "settings.py", *root.glob("adapters/*/*.py")]:
        source = path.read_text(encoding="utf-8")
        read |= set(re.findall(r'values\.get\("([A-Z_]+)"\)', source))
        read |= set(re.findall(r'\bids\("([A-Z_]+)"', source))
        read |= set(re.findall(r'_duration\(values, "([A-Z_]+)"', source))
    listed = (root / ".env.example").read_text(encoding="utf-8")
    assert {"DISCORD_TOKEN", "SLACK_BOT_TOKEN", "TOCSIN_DATABASE_URL", "TOCSIN_JOB_LEASE"} <= read
    assert read == declared, "every variable read is declared by the core or its plugin"
    assert not {name for name in read if f"{name}=" not in listed}
    # And the other way: nothing listed that nothing reads (the tests' own aside).
    tests_read = {"TOCSIN_TEST_POSTGRES_URL", "TOCSIN_REQUIRE_POSTGRES"}
    for name in tests_read:
        assert name in (root / "tests" / "conftest.py").read_text(encoding="utf-8"), name
    named = set(re.findall(r"^#? ?([A-Z][A-Z0-9_]+)=", listed, re.MULTILINE))
    assert named - tests_read == read, "every variable listed is one Tocsin reads"
