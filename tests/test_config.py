"""tocsin.toml and the environment: defaults, and errors that name the file, line and key."""

from __future__ import annotations

import re
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import hypothesis
import pytest
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy.engine import make_url

from adapters.discord.settings import DiscordSettings
from bot.config import load_config
from bot.errors import ConfigError, SettingsError
from bot.plugins import config_models, discover
from bot.settings import DEFAULT_DATABASE_URL, VARIABLES, Settings, http_url
from storage.drivers import SUPPORTED_DRIVERS

EXAMPLE = Path(__file__).resolve().parents[1] / "tocsin.example.toml"


PEOPLE = '[people.alice]\nname = "Alice"\n\n'
SCHEDULE = (
    '[schedules.primary]\ntimezone = "Europe/Berlin"\nmembers = ["alice"]\nshift = "1w"\n'
    'start = "2026-01-05T09:00"\n'
)
POLICY = (
    '[policies.default]\n[[policies.default.levels]]\ntargets = ["person:alice"]\n'
    'escalate_after = "5m"\n'
)


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
            "tocsin.toml:1: people.Alice: write the person key 'Alice' in lowercase: 'alice'",
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
            "[people.alice]\nname = 'A'\nids = 5\n",
            "tocsin.toml:3: people.alice.ids: 5 is not a table",
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
        (  # a long value is cut short, and says so, a number as much as a string
            "[incident]\ndefault_severity = " + "9" * 50 + "\n",
            "incident.default_severity: " + "9" * 40 + "… is out of range",
        ),
        (
            "[incident]\nchannel_prefix = '" + "X" * 50 + "'\n",
            'incident.channel_prefix: "' + "X" * 40 + '…" is not a channel prefix',
        ),
        # Paging: people, schedules and policies named must exist; durations must parse.
        (
            PEOPLE + "[policies.default]\n[[policies.default.levels]]\n"
            'targets = ["person:alice"]\nescalate_after = "5 minutes"\n',
            "tocsin.toml:7: policies.default.levels.0.escalate_after: '5 minutes' is not a "
            'duration: write it like "30s", "15m", "1h30m", "2d" or "1w"',
        ),
        (
            PEOPLE + "[policies.default]\n[[policies.default.levels]]\n"
            'targets = ["person:alice"]\nescalate_after = "-5m"\n',
            "tocsin.toml:7: policies.default.levels.0.escalate_after: '-5m' is not a duration",
        ),
        (
            PEOPLE + "[policies.default]\n[[policies.default.levels]]\n"
            'targets = ["person:alice"]\nescalate_after = "5m"\n'
            '[[policies.default.levels]]\ntargets = ["person:carol"]\nescalate_after = "5m"\n',
            'tocsin.toml:9: policies.default.levels.1.targets: "person:carol": "carol" is not '
            "under [people]",
        ),
        (
            PEOPLE + "[policies.default]\n[[policies.default.levels]]\n"
            'targets = ["schedule:primry"]\nescalate_after = "5m"\n' + SCHEDULE,
            'tocsin.toml:6: policies.default.levels.0.targets: "schedule:primry": "primry" is '
            'not under [schedules] (did you mean "primary"?)',
        ),
        (
            PEOPLE + "[policies.default]\n[[policies.default.levels]]\n"
            'targets = []\nescalate_after = "5m"\n',
            "tocsin.toml:6: policies.default.levels.0.targets is empty; give at least 1",
        ),
        (
            PEOPLE + "[policies.default]\n[[policies.default.levels]]\n"
            'targets = ["alice"]\nescalate_after = "5m"\n',
            'policies.default.levels.0.targets: "alice" is not a target: write "person:<key>" '
            'or "schedule:<name>"',
        ),
        (
            PEOPLE + "[policies.default]\nlevels = []\n",
            "tocsin.toml:5: policies.default.levels is empty; give at least 1",
        ),
        (
            PEOPLE + "[policies.default]\nrepeat = 10\n[[policies.default.levels]]\n"
            'targets = ["person:alice"]\nescalate_after = "5m"\n',
            "tocsin.toml:5: policies.default.repeat: 10 is out of range",
        ),
        (
            PEOPLE + POLICY + '[severities.SEV1]\nlabel = "critical"\npolicy = "defualt"\n',
            'tocsin.toml:10: severities.SEV1.policy: "defualt" is not under [policies] '
            '(did you mean "default"?)',
        ),
        (
            PEOPLE + POLICY.replace("default", "web") + '[severities.SEV1]\nlabel = "critical"\n',
            "tocsin.toml:8: severities.SEV1: SEV1 pages but names no policy and there is no "
            '[policies.default]: write policy = "web", add [policies.default], or page = false',
        ),
        (
            PEOPLE + SCHEDULE.replace('"alice"', '"alcie"'),
            'tocsin.toml:6: schedules.primary.members: "alcie" is not under [people] '
            '(did you mean "alice"?)',
        ),
        (
            PEOPLE + SCHEDULE.replace("Europe/Berlin", "Europe/Berln"),
            'tocsin.toml:5: schedules.primary.timezone: "Europe/Berln" is not a time zone: write '
            'an IANA name like "Europe/Berlin" (did you mean "Europe/Berlin"?)',
        ),
        (
            PEOPLE + SCHEDULE.replace('"1w"', '"0m"'),
            "tocsin.toml:7: schedules.primary.shift: '0m' is not a duration: it must be longer",
        ),
        (
            PEOPLE + SCHEDULE.replace("2026-01-05T09:00", "next monday"),
            'tocsin.toml:8: schedules.primary.start: "next monday" is not a date and time: '
            'write it like "2026-01-05T09:00"',
        ),
        (
            PEOPLE + SCHEDULE.replace("2026-01-05T09:00", "2026-01-05T09:00+01:00"),
            "tocsin.toml:8: schedules.primary.start: write the time without an offset",
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
        ({"TOCSIN_HTTP_PORT": "²"}, "TOCSIN_HTTP_PORT must be a number from 0 to 65535, not '²'"),
        ({"TOCSIN_HTTP_PORT": "٣٠٠٠"}, "TOCSIN_HTTP_PORT must be a number from 0 to 65535"),
        ({"TOCSIN_HTTP_PORT": "3_000"}, "TOCSIN_HTTP_PORT must be a number from 0 to 65535"),
        ({"TOCSIN_HTTP_HOST": "no such host"}, "TOCSIN_HTTP_HOST must be a host name or an IP"),
        ({"TOCSIN_CONFIG": "/nonexistent/tocsin.toml"}, "TOCSIN_CONFIG points to"),
        ({"TOCSIN_CONFIG": "a\x00b"}, "TOCSIN_CONFIG points to 'a\\x00b', which is not a file"),
        ({"TOCSIN_CONFIG": "x" * 5000}, "TOCSIN_CONFIG points to 'xxxxxxxx"),
        ({"TOCSIN_JOB_LEASE": "thirty"}, "TOCSIN_JOB_LEASE: 'thirty' is not a duration"),
        ({"TOCSIN_JOB_LEASE": "٣٠s"}, "TOCSIN_JOB_LEASE: '٣٠s' is not a duration"),
        (
            {"TOCSIN_DATABASE_URL": "postgresql+asyncpg://tocsin:hunter2@db:notaport/tocsin"},
            "TOCSIN_DATABASE_URL: the port must be a number from 1 to 65535; write it like",
        ),
        (
            {"TOCSIN_DATABASE_URL": "postgresql+asyncpg://tocsin:hunter2@db:٥٤٣٢/tocsin"},
            "TOCSIN_DATABASE_URL: the port must be a number from 1 to 65535",
        ),
        (
            {"TOCSIN_DATABASE_URL": "://tocsin:hunter2@db/tocsin"},
            "TOCSIN_DATABASE_URL is not a database URL; write it like sqlite+aiosqlite:///",
        ),
        (
            {"TOCSIN_DATABASE_URL": "mysql://tocsin:hunter2@db/tocsin"},
            "TOCSIN_DATABASE_URL uses 'mysql'; Tocsin supports sqlite+aiosqlite://… and "
            "postgresql+asyncpg://…",
        ),
        ({"DISCORD_TOKEN": "t", "DISCORD_SHARD_COUNT": "²"}, "DISCORD_SHARD_COUNT must be a"),
        ({"DISCORD_TOKEN": "t", "DISCORD_GUILD_IDS": "¹²"}, "DISCORD_GUILD_IDS must be a comma"),
        (
            {"DISCORD_TOKEN": "t", "DISCORD_GUILD_IDS": "99999999999999999999"},
            "DISCORD_GUILD_IDS must be a comma",
        ),
        (
            {"DISCORD_TOKEN": "t", "DISCORD_API_URL": "http://u:hunter2@proxy:notaport/api"},
            "DISCORD_API_URL must be an http(s) URL with the API version, like "
            "https://discord.com/api/v10; its port must be a number from 1 to 65535",
        ),
        ({"DISCORD_TOKEN": "hunter2\n"}, "DISCORD_TOKEN has a space or a line break in it"),
        (
            {"SLACK_BOT_TOKEN": "xoxb-1", "SLACK_SIGNING_SECRET": "hunter2 "},
            "SLACK_SIGNING_SECRET has a space or a line break in it",
        ),
        (
            {
                "SLACK_BOT_TOKEN": "xoxb-1",
                "SLACK_SIGNING_SECRET": "s",
                "SLACK_API_URL": "https://u:hunter2@slack proxy/api/",
            },
            "SLACK_API_URL must be an http(s) URL, like https://slack.com/api/",
        ),
    ],
)
def test_bad_environment_names_the_variable(env: dict[str, str], message: str) -> None:
    with pytest.raises(SettingsError) as caught:
        read_all(env)
    assert str(caught.value).startswith(message), str(caught.value)
    assert len(str(caught.value).splitlines()) == 1 and len(str(caught.value)) < 300
    assert "hunter2" not in str(caught.value)


def read_all(env: dict[str, str]) -> Settings:
    """The settings as ``tocsin run`` reads them: the core's, then each platform's."""
    settings = Settings.from_env(env, dotenv=False)
    for plugin in PLUGINS.values():
        plugin.configured(settings)
    return settings


PLUGINS = discover()
NAMES = sorted({*VARIABLES, *(name for p in PLUGINS.values() for name in p.variables)})
SECRET_NAMES = {
    "TOCSIN_DATABASE_URL",
    "SLACK_BOT_TOKEN",
    "SLACK_SIGNING_SECRET",
    "SLACK_APP_TOKEN",
    "SLACK_API_URL",
    "DISCORD_TOKEN",
    "DISCORD_API_URL",
    "DISCORD_GATEWAY_URL",
}
TRICKY = "0123456789²¹٣٠:/@[]%?#=+-_., \n\t\x00\u2028abxopqsw"
texts = st.text(st.sampled_from(TRICKY) | st.characters(), max_size=40) | st.text(
    st.sampled_from("0123456789²¹٣٠٥ ,"), min_size=1, max_size=8
)


@st.composite
def secrets(draw: st.DrawFn) -> str:
    """A value around the password ``hunter2``: a URL with it, a token that is it."""
    scheme = draw(st.sampled_from(["postgresql+asyncpg", "sqlite+aiosqlite", "https", "wss", ""]))
    return draw(
        st.sampled_from(
            [
                f"{scheme}://{draw(texts)}:hunter2@{draw(texts)}:{draw(texts)}/{draw(texts)}",
                f"{scheme}://user:hunter2{draw(texts)}@host{draw(texts)}",
                f"xoxb-hunter2{draw(texts)}",
                f"{draw(texts)}hunter2{draw(texts)}",
            ]
        )
    )


@given(
    env=st.dictionaries(st.sampled_from(NAMES), texts.filter(lambda t: "hunter2" not in t)),
    hidden=st.dictionaries(st.sampled_from(sorted(SECRET_NAMES)), secrets()),
)
@hypothesis.settings(max_examples=400, deadline=None)
def test_any_environment_gives_settings_or_one_line_without_secrets(
    env: dict[str, str], hidden: dict[str, str]
) -> None:
    try:
        settings = read_all(env | hidden)
    except SettingsError as exc:
        message = str(exc)
        assert len(message.splitlines()) == 1 and message == message.strip(), message
        assert "hunter2" not in message, message
        assert len(message) < 300, message
        return
    url = make_url(settings.database_url)  # what was accepted is usable
    assert url.drivername in SUPPORTED_DRIVERS and (url.port is None or 0 < url.port < 65536)
    assert 0 <= settings.http_port <= 65535 and settings.http_host.isascii()


def test_the_schemes_a_url_takes_are_given_not_read_from_its_wording() -> None:
    """Rewording what a URL should be changes nothing about which URLs are taken."""
    assert http_url("X_URL", "wss://gw.example/", "the gateway", schemes=("ws", "wss"))
    assert http_url("X_URL", "https://api.example/", "a ws-like API", schemes=("http", "https"))
    for value, schemes in [("https://gw.example/", ("ws", "wss")), ("ws://x/", ("https",))]:
        with pytest.raises(SettingsError, match=r"^X_URL must be a ws"):
            http_url("X_URL", value, "a ws URL", schemes=schemes)
    base = {"DISCORD_TOKEN": "t"}
    with pytest.raises(SettingsError, match=r"^DISCORD_GATEWAY_URL must be a ws"):
        DiscordSettings.from_env(base | {"DISCORD_GATEWAY_URL": "https://gateway.example/"})
    with pytest.raises(SettingsError, match=r"^DISCORD_API_URL must be an http"):
        DiscordSettings.from_env(base | {"DISCORD_API_URL": "wss://discord.example/api/v10"})


def test_reading_the_settings_loads_no_sqlalchemy() -> None:
    """``tocsin --help`` reads the settings (a plugin's do): checking the database URL's
    driver must not load the engine, nor SQLAlchemy until a URL is there to parse."""
    code = (
        "import sys\n"
        "from bot.settings import Settings\n"
        "Settings.from_env({}, dotenv=False)\n"
        "print(sorted({m.split('.')[0] for m in sys.modules} & {'sqlalchemy', 'sqlmodel'}))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    assert done.stdout.strip() == "[]", done.stderr


def test_good_values_are_still_read() -> None:
    settings = read_all(
        {
            "TOCSIN_HTTP_PORT": " 8080 ",
            "TOCSIN_HTTP_HOST": "::",
            "TOCSIN_DATABASE_URL": "postgresql+asyncpg://tocsin:p%40ss@[::1]:5433/tocsin",
            "DISCORD_TOKEN": "t.o.k",
            "DISCORD_GUILD_IDS": "80351110224678912, 12",
            "DISCORD_SHARD_COUNT": "4",
            "DISCORD_API_URL": "http://127.0.0.1:9000/api/v10",
            "DISCORD_GATEWAY_URL": "ws://127.0.0.1:9000/",
        }
    )
    assert (settings.http_host, settings.http_port) == ("::", 8080)
    discord = DiscordSettings.from_env(settings.env)
    assert discord is not None and discord.guild_ids == (80351110224678912, 12)
    assert discord.shard_count == 4


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


def test_storage_never_echoes_a_database_url_either() -> None:
    from storage.engine import create_engine
    from storage.errors import UnsupportedDatabase

    for url in ("://u:hunter2@db/x", "postgresql+asyncpg://u:hunter2@db:notaport/x"):
        with pytest.raises(UnsupportedDatabase) as caught:
            create_engine(url)
        assert "hunter2" not in str(caught.value)


def test_a_file_that_is_not_utf8_is_refused_with_its_line(tmp_path: Path) -> None:
    path = tmp_path / "tocsin.toml"
    path.write_bytes(b'[incident]\nannounce_channel = "a\xffb"\n')
    with pytest.raises(ConfigError) as refused:
        load_config(path)
    assert str(refused.value) == f"{path}:2: not UTF-8 (byte 0xff); save the file as UTF-8"


def test_a_paging_config_is_read_and_a_fresh_one_pages_nobody(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, PEOPLE + SCHEDULE + POLICY), config_models(discover()))
    assert config.policy_name(1) == "default" and config.pages(1) and not config.pages(3)
    assert config.schedules["primary"].members == ["alice"]
    assert load_config(None).policies == {} and load_config(None).policy_name(1) is None
