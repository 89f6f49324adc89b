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
            'tocsin.toml:5: severities.SEV1.colour: "red" is not a colour; write it as '
            '"#rrggbb", e.g. "#d73a4a"',
        ),
        (
            "[incident]\nchannel_prefix = 'Inc!'\n",
            'tocsin.toml:2: incident.channel_prefix: "Inc!" is not a channel prefix; use '
            "lowercase letters, digits and '-', at most 20 characters, e.g. \"inc\"",
        ),
        (
            "[severities.CRIT]\nlabel = 'a'\n",
            'tocsin.toml:1: severities.CRIT: severity keys are SEV1 … SEV9, not "CRIT"',
        ),
        (
            "[severities.SEV1]\nlabel='a'\n[severities.SEV3]\nlabel='b'\n",
            "tocsin.toml:3: severities.SEV3: SEV2 is missing: severities are numbered SEV1, "
            "SEV2, … with no gaps",
        ),
        (
            "[severities.SEV1]\nlabel = 'a'\n[severities.SEV2]\nlabel = 'A'\n",
            'tocsin.toml:4: severities.SEV2.label: SEV2 has the same label as SEV1: "A"',
        ),
        (
            "[severities.SEV1]\nlabel = ''\n",
            "tocsin.toml:2: severities.SEV1.label must not be empty",
        ),
        (
            "[severities.SEV1]\ncolour = '#ffffff'\n",
            'tocsin.toml:1: severities.SEV1.label is required (its name in words, like "critical")',
        ),
        (
            "[incident]\ncommander = 'zed'\n",
            'tocsin.toml:2: incident.commander: "zed" is not under [people]; write "declarer" or '
            "the key of a person",
        ),
        (
            "[incident]\nannounce_channel = 'x'\ndefault_severity = 7\n",
            "tocsin.toml:3: incident.default_severity: 7 is not a severity here: only SEV1 … SEV4 "
            "are defined; write a number from 1 to 4",
        ),
        (
            "incident = { default_severity = 7 }\n",
            "tocsin.toml:1: incident.default_severity: 7 is not a severity here",
        ),
        (
            "[incident]\ndefault_severity = 0\n",
            "tocsin.toml:2: incident.default_severity: 0 is out of range; write a whole number "
            "from 1 to 9",
        ),
        (
            "[incident]\ndefault_severity = 2.5\n",
            "tocsin.toml:2: incident.default_severity: 2.5 is not a whole number; write a whole "
            "number from 1 to 9",
        ),
        ("[roles]\nscribe = 'x'\n", "tocsin.toml:1: roles: the 'commander' role cannot be removed"),
        (
            "[people.Alice]\nname = 'A'\n",
            'tocsin.toml:1: people.Alice: "Alice" is not a valid name: use lowercase letters, '
            "digits, '-' and '_'",
        ),
        (
            "[people.alice]\nslack = 'U1'\n",
            'tocsin.toml:1: people.alice.name is required (their name, like name = "Alice '
            'Liddell")',
        ),
        (
            "[people.alice]\nname = 'A'\nslack = 5\n",
            "tocsin.toml:3: people.alice.slack: 5 is not text; write it in quotes",
        ),
        (
            "[incident\n",
            "tocsin.toml:1: not valid TOML: Expected ']' at the end of a table declaration "
            "(column 10)",
        ),
        ("a = " + "[" * 2000 + "]" * 2000 + "\n", "tables nested too deeply to read"),
        ("colour = 1\n", "tocsin.toml:1: unknown key 'colour'"),
        (
            "severities = 5\n",
            "tocsin.toml:1: severities: 5 is not a table: give it its own [section], or "
            "{ key = value, … }",
        ),
        (
            "[severities.SEV1]\nlabel = 'a'\nupdate_every_minutes = 15\n",
            "tocsin.toml:3: unknown key 'severities.SEV1.update_every_minutes' "
            "(did you mean 'update_every'?)",
        ),
        (
            "[severities.SEV1]\nlabel = 'a'\nupdate_every = '5 minutes'\n",
            "tocsin.toml:3: severities.SEV1.update_every: '5 minutes' is not a duration: write it "
            'like "30s"',
        ),
        ("[severities.SEV1]\nlabel = 'a'\nupdate_every = '-5m'\n", "'-5m' is not a duration"),
        ("[severities.SEV1]\nlabel = 'a'\nupdate_every = '٣٠m'\n", "'٣٠m' is not a duration"),
        ("[severities.SEV1]\nlabel = 'a'\nupdate_every = 15\n", "write a duration as a string"),
        (
            '[services.api]\ndescription = """\nrunbook = 1\n"""\nrunbook = 5\n',
            "tocsin.toml:5: services.api.runbook: 5 is not text; write it in quotes",
        ),
        (
            "[people.alice]\nname = 'A'\nslak = 'U1'\n",
            "tocsin.toml:3: unknown key 'people.alice.slak' (did you mean 'slack'?); a person "
            "has a name and an id for each platform: console, discord, slack",
        ),
        (
            "[discord]\ncategry = 'x'\n",
            "tocsin.toml:2: unknown key 'discord.categry' (did you mean 'category'?)",
        ),
        (
            "[discord]\ncategory = '" + "x" * 101 + "'\n",
            "tocsin.toml:2: discord.category is 101 characters long; write at most 100 characters",
        ),
        ("[console]\nx = 1\n", "[console] takes no settings"),
        (
            "[incident]\nplatform = 7\n",
            "tocsin.toml:2: incident.platform: 7 is not text; write it in quotes",
        ),
    ],
)
def test_bad_config_names_file_line_and_key(tmp_path: Path, text: str, expected: str) -> None:
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as caught:
        load_config(path, config_models(discover()))
    message = str(caught.value)
    assert message.startswith(str(path))
    assert expected.replace("tocsin.toml", str(path)) in message or expected in message
    assert "should" not in message and "Input" not in message, "pydantic's own wording"


def test_every_config_error_is_located_and_in_words(tmp_path: Path) -> None:
    """Several mistakes at once: each on its own line, with its line number."""
    path = write(
        tmp_path,
        "[incident]\nchannel_prefix = 'X'\n\n[severities.SEV1]\nlabel = 'a'\ncolour = 'red'\n"
        "[severities.SEV2]\nlabel = 'b'\ncolour = 'blue'\n",
    )
    with pytest.raises(ConfigError) as caught:
        load_config(path, config_models(discover()))
    lines = str(caught.value).splitlines()
    assert [line.split(": ")[0].replace(str(path), "T") for line in lines] == [
        "T:2",
        "T:6",
        "T:9",
    ]
    assert lines[2].endswith(
        'severities.SEV2.colour: "blue" is not a colour; write it as "#rrggbb", e.g. "#d73a4a"'
    )


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
