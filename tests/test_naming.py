"""Names: incident channel slugs in any script, and the one rule for people's names."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot import names
from bot.commands import default_registry
from bot.commands.parse import Parser
from bot.config import Service, TocsinConfig, load_config
from bot.errors import ConfigError, UserError
from bot.naming import channel_name
from bot.platform import ChannelRules
from tests.cli import tocsin_env, tocsin_inline

SLACK = ChannelRules(max_length=80)
DISCORD = ChannelRules(max_length=100)


def test_a_title_in_another_script_gets_a_readable_slug() -> None:
    russian = channel_name("inc", 2, "База данных недоступна", SLACK)
    assert russian == "inc-2-baza-dannykh-nedostupna"
    assert channel_name("inc", 2, "データベースが落ちた", SLACK) == "inc-2-detabesugaluochita"
    assert channel_name("inc", 2, "Αποτυχία πληρωμών", SLACK) == "inc-2-apotychia-pliromon"
    assert channel_name("inc", 2, "Zürich Straße: Ärger", SLACK) == "inc-2-zurich-strasse-arger"
    assert channel_name("inc", 2, "🔥 checkout 🔥", SLACK) == "inc-2-fire-checkout-fire"


def test_a_title_with_nothing_to_spell_keeps_the_number_alone() -> None:
    assert channel_name("inc", 2, "!!! ??? ...", SLACK) == "inc-2"
    assert channel_name("inc", 2, "!!!", SLACK, attempt=1) == "inc-2-2"


def test_a_cut_slug_never_ends_with_a_dash() -> None:
    # "inc-2-" is 6 long: 74 characters of slug fit in 80, and the 74th is a dash.
    title = "x" * 73 + " then more words"
    assert channel_name("inc", 2, title, SLACK) == "inc-2-" + "x" * 73
    assert channel_name("inc", 2, "Ж" * 36 + "a b", SLACK) == "inc-2-" + "zh" * 36 + "a"
    assert len(channel_name("inc", 2, "ab " * 40, SLACK, attempt=1)) <= 80


@settings(deadline=None)  # anyascii loads a script's table on first use: no time limit
@given(
    title=st.text(max_size=300),
    number=st.integers(min_value=1, max_value=999_999_999),
    attempt=st.integers(min_value=0, max_value=50),
    rules=st.sampled_from([SLACK, DISCORD, ChannelRules(max_length=21)]),
)
def test_every_channel_name_keeps_the_platform_rules(
    title: str, number: int, attempt: int, rules: ChannelRules
) -> None:
    name = channel_name("inc", number, title, rules, attempt)
    assert len(name) <= rules.max_length
    assert set(name) <= set(rules.allowed)
    assert not name.endswith(("-", "_")) and "--" not in name
    assert re.match(rf"^inc-{number}(-|$)", name)


# People, roles, services: one rule each, wherever a name comes in.


@pytest.mark.parametrize(
    ("typed", "key"),
    [("bob", "bob"), ("@Bob", "bob"), ("BOB.Smith", "bob.smith"), (" dana_2 ", "dana_2")],
)
def test_a_person_is_one_word_in_any_case(typed: str, key: str) -> None:
    assert names.person(typed) == key


@pytest.mark.parametrize(
    ("typed", "said"),
    [
        ("Bob Smith", "'Bob Smith' is not a person's name: a name is one word of letters a-z"),
        ("@", "a person's name cannot be empty"),
        ("", "a person's name cannot be empty"),
        ("b" * 65, "a person's name is at most 64 characters"),
        ("-bob", "is not a person's name"),
        ("bob!", "is not a person's name"),
        ("josé", "is not a person's name"),
    ],
)
def test_a_name_that_is_not_one_is_refused_in_words(typed: str, said: str) -> None:
    with pytest.raises(UserError, match=re.escape(said)):
        names.person(typed)


def test_roles_and_services_are_matched_in_any_case_and_kept_as_configured() -> None:
    assert names.configured("Operations", ["commander", "operations"], "role") == "operations"
    assert names.configured("API", ["api", "db"], "service") == "api"


@pytest.mark.parametrize(
    ("typed", "said"),
    [
        ("ops", "there is no role 'ops'. Did you mean operations? The roles are: commander,"),
        ("operatons", "Did you mean operations?"),
        ("comm", "Did you mean commander or communications?"),
        ("Comms", "Did you mean communications?"),
        ("pilot", "there is no role 'pilot'. The roles are: commander, communications,"),
    ],
)
def test_a_role_that_is_not_configured_gets_the_closest(typed: str, said: str) -> None:
    with pytest.raises(UserError, match=re.escape(said)):
        names.configured(typed, ["commander", "communications", "operations"], "role")


def test_the_parser_takes_roles_and_services_in_any_case() -> None:
    config = TocsinConfig(services={"api": Service(), "payments": Service()})
    parser = Parser(default_registry(), config)
    mention = names_mention
    assigned = parser.parse("incident", "assign Operations @bob", mention)
    assert assigned.values["role"] == "operations"
    declared = parser.parse("incident", "declare db down --service API", mention)
    assert declared.values["service"] == "api"
    with pytest.raises(UserError, match=re.escape("Did you mean operations?")):
        parser.parse("incident", "assign ops @bob", mention)
    with pytest.raises(UserError, match=re.escape("Did you mean payments?")):
        parser.parse("incident", "declare db down --service paymnets", mention)


def names_mention(token: str) -> bool:
    return token.startswith("@")


@pytest.mark.parametrize(
    ("toml", "said"),
    [
        ("[people.'Bob Smith']\nname = 'Bob'\n", "'Bob Smith' is not a person's name"),
        ("[people.Bob]\nname = 'Bob'\n", "write the person key 'Bob' in lowercase: 'bob'"),
        (
            "[incident]\ncommander = 'Bob'\n[people.bob]\nname = 'B'\n",
            '"Bob" is not under [people]',
        ),
        (
            "[severities.SEV1]\nlabel = 'critical'\n[severities.SEV2]\nlabel = 'sev1'\n",
            "SEV2's label 'sev1' would mean SEV1",
        ),
        (
            "[severities.SEV1]\nlabel = 'critical'\n[severities.SEV2]\nlabel = '1'\n",
            "SEV2's label '1' would mean SEV1",
        ),
        (
            "[severities.SEV1]\nlabel = 'SEV02'\n[severities.SEV2]\nlabel = 'major'\n",
            "SEV1's label 'SEV02' would mean SEV2",
        ),
    ],
)
def test_the_config_refuses_names_the_rule_refuses(tmp_path: Path, toml: str, said: str) -> None:
    path = tmp_path / "tocsin.toml"
    path.write_text(toml, encoding="utf-8")
    with pytest.raises(ConfigError, match=re.escape(said)):
        load_config(path)


def test_the_config_takes_names_the_rule_takes(tmp_path: Path) -> None:
    path = tmp_path / "tocsin.toml"
    path.write_text(
        "[incident]\ncommander = 'bob.smith'\n[people.'bob.smith']\nname = 'Bob Smith'\n"
        "[severities.SEV1]\nlabel = 'sev1'\n[severities.SEV2]\nlabel = 'severe'\n",
        encoding="utf-8",
    )
    config = load_config(path)
    assert list(config.people) == ["bob.smith"]
    parser = Parser(default_registry(), config)
    assert parser.severity("severe") == 2 and parser.severity("SEV1") == 1
    assert parser.severity("Severe") == 2


def test_the_command_line_takes_and_refuses_names_by_the_same_rule(
    sqlite_url: str, tmp_path: Path
) -> None:
    env = tocsin_env(sqlite_url)
    for args, said in [
        (["declare", "Disk full", "--as", "Bob Smith"], "argument --as: 'Bob Smith' is not a"),
        (["shell", "--as", "Bob Smith"], "argument --as: 'Bob Smith' is not a person's name"),
        (["shell", "--as", "@"], "argument --as: a person's name cannot be empty"),
        (["shell", "--channel", "War Room"], "argument --channel: 'War Room' is not a channel"),
    ]:
        refused = tocsin_inline(*args, cwd=tmp_path, env=env)
        assert (refused.returncode, said in refused.stderr) == (2, True), refused.stderr
        assert "Traceback" not in refused.stderr
    assert (
        "there is no incident INC-1" in tocsin_inline("export", "1", cwd=tmp_path, env=env).stderr
    )
    declared = tocsin_inline("declare", "Disk full", "--as", "@Dana", cwd=tmp_path, env=env)
    assert declared.returncode == 0, declared.stderr
    exported = tocsin_inline("export", "INC-1", cwd=tmp_path, env=env).stdout
    assert "| dana | declared the incident" in exported


def test_the_shell_takes_names_in_any_case(sqlite_url: str, tmp_path: Path) -> None:
    (tmp_path / "tocsin.toml").write_text("[services.api]\n[people.dana]\nname = 'Dana Scully'\n")
    script = (
        "@Dana\n"
        "/incident declare Disk full --service API\n"
        "#INC-1-Disk-Full\n"
        "/incident assign ops @Carol\n"
        "/incident assign Operations @Carol\n"
        "@Bob!Smith\n"
        "#war!room\n"
        "@Bob Smith can you look?\n"
    )
    shell = tocsin_inline(
        "shell",
        "--as",
        "Erin",
        "--channel",
        "#Incidents",
        cwd=tmp_path,
        env=tocsin_env(sqlite_url),
        stdin=script,
    )
    assert shell.returncode == 0, shell.stderr
    out = shell.stdout
    assert "(you are now @dana)" in out
    assert "Commander: @dana · Service: api" in out
    assert "(now in #inc-1-disk-full)" in out
    assert "there is no role 'ops'. Did you mean operations?" in out
    assert "⚠️ 'Bob!Smith' is not a person's name: a name is one word of letters a-z" in out
    assert "⚠️ 'war!room' is not a channel name" in out
    assert "'Bob Smith' is not" not in out  # a longer line is chat (#20), not a refused name
    exported = tocsin_inline("export", "INC-1", cwd=tmp_path, env=tocsin_env(sqlite_url)).stdout
    assert "| Dana Scully | declared the incident" in exported
    assert "@Bob Smith can you look?" in exported
    assert "carol" in exported.split("declared the incident")[1]
