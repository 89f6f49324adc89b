"""The local shell end to end: a subprocess driven through stdin, restarted mid-incident."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

from tests.cli import tocsin, tocsin_env, tocsin_inline

FIRST = """\
/incident declare Checkout returns 500 --sev 1 --service api --desc since deploy 4.2
#inc-1-checkout-returns-500
1
/incident status identified bad config in 4.2
the config flag flipped at 09:58, @everyone
/incident task add roll back 4.2 @bob
@bob
/incident assign operations @bob
/incident sev 9
/incident frobnicate
quit
/incident resolve this line is never read
"""

SECOND = """\
/incident list
#inc-1-checkout-returns-500
2
rolled back 4.2
/incident close
/incident close --force
/incident timeline
/incident export md
"""


def test_shell_runs_an_incident_and_carries_on_after_a_restart(
    database_url: str, tmp_path: Path
) -> None:
    env = tocsin_env(database_url)
    first = tocsin("shell", "--as", "alice", cwd=tmp_path, env=env, stdin=FIRST)
    assert first.returncode == 0, first.stderr
    out = first.stdout
    assert "[#inc-1-checkout-returns-500] channel created" in out
    assert "[#inc-1-checkout-returns-500] 📌 pinned the card" in out
    assert "[#incidents] 🚨 New incident INC-1 · SEV1 critical: Checkout returns 500" in out
    assert (
        "→ ✅ Declared INC-1 (SEV1 critical): Checkout returns 500 · "
        "channel #inc-1-checkout-returns-500"
    ) in out
    # What a line set going is shown before the next line is read.
    assert out.index("New incident INC-1") < out.index("(now in #inc-1-checkout-returns-500)")
    assert "└ [1] Acknowledge  [2] Update status  [3] Resolve" in out
    assert "→ 👍 INC-1 acknowledged by @alice: you own it now." in out
    assert "→ 🎯 INC-1 is now identified." in out
    assert "☐ Task 1 added to INC-1: roll back 4.2 (owner bob)" in out
    assert "(you are now @bob)" in out
    assert "→ @bob is now the operations lead of INC-1." in out
    assert "→ (only you) ⚠️ '9' is not a severity: use 1-4" in out
    assert "⚠️ `frobnicate` is not a /incident command." in out
    assert "this line is never read" not in out and "INC-1 is resolved" not in out

    second = tocsin("shell", "--as", "carol", cwd=tmp_path, env=env, stdin=SECOND)
    assert second.returncode == 0, second.stderr
    out = second.stdout
    assert "· SEV1 · identified · alice · alice · Checkout returns 500" in out  # age first
    assert "[#inc-1-checkout-returns-500] pinned card" in out
    assert "└ [1] Update status  [2] Resolve" in out, "the card and its buttons survive"
    assert "── Resolve INC-1" in out, "the Resolve button asks for a summary"
    assert "→ ✅ INC-1 is resolved." in out
    assert "⚠️ INC-1 still has 1 open task:\n☐ 1. roll back 4.2 (bob)" in out
    assert "→ 📁 INC-1 is closed. 1 task was left open." in out
    assert "│ 1 task was left open when it was closed (/incident tasks)" in out
    assert "└ Declared by alice" in out and "\n└\n" not in out + "\n"
    timeline = out[out.index("Timeline of INC-1") :]
    for line in (
        "alice declared the incident (SEV1): Checkout returns 500",
        "alice acknowledged",
        "alice set the status to identified: bad config in 4.2",
        "alice added task 1: roll back 4.2",
        "bob made bob the operations lead",
        "carol resolved the incident: rolled back 4.2",
        "carol closed the incident, leaving task 1 open",
    ):
        assert line in timeline
    assert "📎 inc-1-timeline.md" in out
    assert "# INC-1: Checkout returns 500" in out
    assert "Traceback" not in first.stderr + second.stderr


def test_shell_forms_are_answered_line_by_line(database_url: str, tmp_path: Path) -> None:
    script = """\
/incident declare
Disk full on db-3
2

the WAL volume
#inc-1-disk-full-on-db-3
2
monitoring
freed 20 GB
/incident declare

/incident list
"""
    result = tocsin_inline(
        "shell", "--as", "dana", cwd=tmp_path, env=tocsin_env(database_url), stdin=script
    )
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "── Declare an incident" in out
    assert "Severity [1: SEV1 · critical | 2: SEV2 · major" in out
    assert "→ ✅ Declared INC-1 (SEV2 major): Disk full on db-3" in out
    assert "── Update INC-1" in out
    assert "→ 👀 INC-1 is now monitoring." in out
    assert "(cancelled)" in out
    assert out.count("INC-") and "INC-2" not in out


def test_shell_refuses_bad_names_and_unknown_buttons(database_url: str, tmp_path: Path) -> None:
    script = "@Not A Name\n#Bad Channel!\n7\nhello there\n/page someone\n"
    result = tocsin_inline("shell", cwd=tmp_path, env=tocsin_env(database_url), stdin=script)
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "⚠️ 'Not A Name' is not a person's name" in out
    assert "⚠️ 'Bad Channel!' is not a channel name" in out
    assert "⚠️ there is no button 7" in out
    assert "#incidents is not an incident channel: chat here is not recorded" in out
    assert "/page is not a Tocsin command" in out


async def test_an_overdue_update_is_reminded_in_the_channel(
    sqlite_url: str, tmp_path: Path
) -> None:
    """A real shell, a 2 s update interval: the commander is reminded once per interval."""
    (tmp_path / "tocsin.toml").write_text(
        '[severities.SEV1]\nlabel = "critical"\nupdate_every = "2s"\n'
    )
    env = tocsin_env(sqlite_url, TOCSIN_SWEEP_EVERY="1s")
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bot.cli",
        "shell",
        "--as",
        "alice",
        cwd=tmp_path,
        env=env,
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    assert process.stdin is not None and process.stdout is not None
    process.stdin.write(b"/incident declare Queue stuck --sev 1\n")
    await process.stdin.drain()
    seen = ""
    try:
        while seen.count("⏰ INC-1 has had no status update") < 2:
            line = await asyncio.wait_for(process.stdout.readline(), timeout=30)
            assert line, "the shell ended early:\n" + seen
            seen += line.decode()
        process.stdin.write(b"#inc-1-queue-stuck\n/incident resolve fixed\n")
        await process.stdin.drain()
        while "INC-1 is resolved" not in seen:
            seen += (await asyncio.wait_for(process.stdout.readline(), timeout=30)).decode()
        reminders = seen.count("⏰ INC-1")
        await asyncio.sleep(2.5)  # another interval: resolved, so no reminder
        process.stdin.close()
        rest = (await asyncio.wait_for(process.stdout.read(), timeout=30)).decode()
    finally:
        if process.returncode is None:
            process.kill()
        await process.wait()
    assert (
        "[#inc-1-queue-stuck] ⏰ INC-1 has had no status update for 2 seconds. "
        "@alice, please post one" in seen
    )
    assert rest.count("⏰") == 0 and reminders == 2
