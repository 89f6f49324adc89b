"""Names: incident channel slugs in any script, and the one rule for people's names."""

from __future__ import annotations

import re

from hypothesis import given
from hypothesis import strategies as st

from bot.naming import channel_name
from bot.platform import ChannelRules

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
