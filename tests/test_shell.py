"""The local shell end to end: a subprocess driven through stdin, restarted mid-incident."""

from __future__ import annotations

import array
import asyncio
import fcntl
import re
import signal
import stat
import subprocess
import sys
import termios
import time
from pathlib import Path
from typing import IO

import pexpect
import pytest
from sqlalchemy.engine import make_url

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
    # The answers on the card, not in the script's lines echoed after their prompts.
    assert (
        "│ Status: 🔴 triggered · Severity: SEV2 · major · Commander: @dana\n│ the WAL volume\n"
        in out
    )
    assert "── Update INC-1" in out
    assert "→ 👀 INC-1 is now monitoring." in out
    assert "dana): freed 20 GB\n" in out  # the card's latest update
    assert "(cancelled)" in out
    assert out.count("INC-") and "INC-2" not in out


def test_shell_refuses_bad_names_and_unknown_buttons(database_url: str, tmp_path: Path) -> None:
    script = "@Not!A!Name\n#Bad-Channel!\n7\n" + "9" * 5000 + "\nhello there\n/page someone\n"
    result = tocsin_inline("shell", cwd=tmp_path, env=tocsin_env(database_url), stdin=script)
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "⚠️ 'Not!A!Name' is not a person's name" in out
    assert "⚠️ 'Bad-Channel!' is not a channel name" in out
    assert "⚠️ there is no button 7" in out
    assert f"⚠️ there is no button {'9' * 40}… on the card shown last" in out
    assert "#incidents is not an incident channel: chat here is not recorded" in out
    assert "/page is not a Tocsin command" in out


def test_bytes_that_are_not_utf8_are_shown_as_such_not_a_traceback(
    sqlite_url: str, tmp_path: Path
) -> None:
    piped = subprocess.run(
        [sys.executable, "-m", "bot.cli", "shell", "--as", "alice"],
        input=b"/incident declare caf\xe9 down\n",
        capture_output=True,
        cwd=tmp_path,
        env=tocsin_env(sqlite_url),
        timeout=60,
        check=False,
    )
    assert piped.returncode == 0, piped.stderr.decode()
    assert "Declared INC-1 (SEV3 minor): caf\ufffd down" in piped.stdout.decode()


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


def test_shell_words_alone_on_a_line_are_commands_and_longer_lines_are_chat(
    database_url: str, tmp_path: Path
) -> None:
    script = """\
/incident declare Checkout down --sev 2
#inc-1-checkout-down
@bob can you look?
#1 priority is checkout
500 errors since 09:58
²
@carol
/incident timeline
"""
    result = tocsin_inline(
        "shell", "--as", "alice", cwd=tmp_path, env=tocsin_env(database_url), stdin=script
    )
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert out.count("(now in #") == 1 and out.count("(you are now @") == 1
    assert "there is no button" not in out and "⚠️ a" not in out
    timeline = out[out.index("Timeline of INC-1") :]
    for said in ("@bob can you look?", "#1 priority is checkout", "500 errors since 09:58", "²"):
        assert f"alice said: {said}" in timeline
    assert "carol" not in timeline


def test_shell_echoes_piped_lines_after_their_prompt(database_url: str, tmp_path: Path) -> None:
    script = "/incident declare\nDisk full\n2\n\n\nhello\n"
    result = tocsin_inline(
        "shell", "--as", "dana", cwd=tmp_path, env=tocsin_env(database_url), stdin=script
    )
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[:3] == [
        "@dana #incidents> /incident declare",
        "── Declare an incident (an empty answer to a required field cancels)",
        "Title: Disk full",
    ]
    assert lines.index("@dana #incidents> hello") > lines.index(
        "→ ✅ Declared INC-1 (SEV2 major): Disk full · channel #inc-1-disk-full"
    )
    assert not result.stdout.endswith("> "), "no prompt is left waiting at the end of input"


def test_a_piped_line_is_echoed_without_control_characters_and_cut_short(
    sqlite_url: str, tmp_path: Path
) -> None:
    """The echo goes to a terminal, maybe: an escape sequence there would act (colour the
    screen, move the cursor, reverse the text), and 100,000 characters would bury it."""
    hostile = "note \x1b[31mred\x07 \u202eevil\x00"
    script = f"{hostile}\n{'x' * 100_000}\n"
    result = tocsin_inline(
        "shell", "--as", "dana", cwd=tmp_path, env=tocsin_env(sqlite_url), stdin=script
    )
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == "@dana #incidents> note [31mred evil"
    assert lines[2] == f"@dana #incidents> {'x' * 500}…"  # after the "not recorded" line
    assert not any(ch in result.stdout for ch in "\x1b\x07\u202e\x00")
    assert len(result.stdout) < 5_000


def test_a_command_where_a_piped_form_wanted_an_answer_cancels_it_and_runs(
    sqlite_url: str, tmp_path: Path
) -> None:
    """A script that did not expect the Resolve button's form: its next command is not
    stored as the summary (and announced), it runs."""
    script = "/incident declare Disk full\n#inc-1-disk-full\n3\n/incident timeline\n"
    result = tocsin_inline(
        "shell", "--as", "dana", cwd=tmp_path, env=tocsin_env(sqlite_url), stdin=script
    )
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "What fixed it?: /incident timeline\n(cancelled: a command came where an answer" in out
    assert "declared the incident" in out.split("runs next)", 1)[1]  # the timeline ran
    assert "resolved" not in out.split("What fixed it?", 1)[1]


def test_a_bad_answer_in_a_piped_form_cancels_it_and_the_script_goes_on(
    database_url: str, tmp_path: Path
) -> None:
    """From a pipe nobody can correct an answer: the form ends there, and the lines after
    it are commands again, not more tries at the answer."""
    script = """\
/incident declare
Disk full on db-3
7
/incident declare Queue stuck --sev 2
#inc-1-queue-stuck
2
monitorin
/incident status monitoring drained
/incident list
"""
    result = tocsin_inline(
        "shell", "--as", "dana", cwd=tmp_path, env=tocsin_env(database_url), stdin=script
    )
    assert result.returncode == 0, result.stderr
    out = result.stdout
    cancelled = "\n(cancelled: a piped answer is not asked again; the next lines are commands)\n"
    assert "(default 3): 7\n⚠️ '7' is not a severity: use 1-4" in out
    assert "SEV4 low)." + cancelled + "@dana #incidents> /incident declare Queue stuck" in out
    assert "→ ✅ Declared INC-1 (SEV2 major): Queue stuck · channel #inc-1-queue-stuck" in out
    assert "Status [investigating | identified | monitoring]: monitorin\n⚠️ 'monitorin'" in out
    assert cancelled + "@dana #inc-1-queue-stuck> /incident status monitoring drained" in out
    assert "→ 👀 INC-1 is now monitoring." in out
    assert out.count("(cancelled") == 2
    listed = out[out.index("> /incident list") :]
    assert "· SEV2 · monitoring · dana · dana · Queue stuck" in listed
    assert "INC-2" not in out and "Disk full" not in listed


@pytest.mark.parametrize(
    ("announce", "args", "first", "prompt", "announced"),
    [
        (
            "ops.alerts",
            [],
            "(announcements go to #incidents, where the shell starts: the announce channel "
            "'ops.alerts' cannot be a shell channel, whose name is letters a-z, digits, '-' "
            "and '_', like incidents or inc-7)",
            "@dana #incidents> ",
            "#incidents",
        ),
        (
            "#" + "x" * 81,
            ["--channel", "war-room"],
            f"(announcements go to #incidents: the announce channel '#{'x' * 39}…' cannot be "
            "a shell channel, whose name is at most 80 characters)",
            "@dana #war-room> ",
            "#incidents",
        ),
        ("C0123ABCD", [], None, "@dana #c0123abcd> ", "#c0123abcd"),  # a Slack channel id
        ("#Ops-Alerts", [], None, "@dana #ops-alerts> ", "#ops-alerts"),
    ],
)
def test_an_announce_channel_the_shell_cannot_name_is_incidents_saying_so_once(
    sqlite_url: str,
    tmp_path: Path,
    announce: str,
    args: list[str],
    first: str | None,
    prompt: str,
    announced: str,
) -> None:
    """The announce channel is Slack's or Discord's (an id, a name the shell's rule does not
    take), so the config keeps it; the shell says once why it uses #incidents instead."""
    (tmp_path / "tocsin.toml").write_text(f"[incident]\nannounce_channel = {announce!r}\n")
    script = "/incident declare Disk full\n#inc-1-disk-full\n/incident sev 1 it spreads\n"
    result = tocsin_inline(
        "shell", "--as", "dana", *args, cwd=tmp_path, env=tocsin_env(sqlite_url), stdin=script
    )
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    if first is None:
        assert "announcements go to" not in result.stdout
    else:
        assert lines.pop(0) == first
        assert "announcements go to" not in "\n".join(lines)
    assert lines[0] == prompt + "/incident declare Disk full"
    assert f"[{announced}] 🚨 New incident INC-1 · SEV3 minor: Disk full" in lines
    assert any(
        line.startswith(f"[{announced}] 🔺 INC-1 · Disk full · severity raised") for line in lines
    ), lines


def test_the_shell_help_says_each_thing_once(database_url: str, tmp_path: Path) -> None:
    result = tocsin_inline("shell", cwd=tmp_path, env=tocsin_env(database_url), stdin="help\n")
    assert result.returncode == 0, result.stderr
    shown = result.stdout.splitlines()[1:]
    assert shown[0].startswith("Tocsin shell · lines starting with / are slash commands")
    assert len(shown) == len(set(shown)) == 5


# In a terminal: a real pseudo-terminal, keys as a person types them.

LEFT, UP = "\x1b[D", "\x1b[A"
CTRL_C, CTRL_D, BACKSPACE = "\x03", "\x04", "\x7f"
_DRAWING = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")
"""The terminal's drawing instructions (cursor moves, colours), left out of what it shows."""


def _terminal(tmp_path: Path, database_url: str, data: Path | None = None) -> pexpect.spawn:
    """``tocsin shell --as alice`` in a terminal of its own, its history under ``data``
    (default tmp_path/data)."""
    env = tocsin_env(
        database_url,
        TERM="xterm",
        XDG_DATA_HOME=str(data or tmp_path / "data"),
        # Nobody here answers a terminal's "where is the cursor?": do not ask.
        PROMPT_TOOLKIT_NO_CPR="1",
    )
    return pexpect.spawn(
        sys.executable,
        ["-m", "bot.cli", "shell", "--as", "alice"],
        cwd=str(tmp_path),
        env=env,
        encoding="utf-8",
        timeout=60,
        dimensions=(40, 200),
    )


def _ended(shell: pexpect.spawn) -> tuple[int | None, str]:
    """Its exit code and what it showed since the last expect, once it has exited by itself."""
    shell.expect(pexpect.EOF)
    shown = _DRAWING.sub("", shell.before)
    shell.close()
    return shell.exitstatus, shown


def test_the_shell_in_a_terminal_edits_lines_and_keeps_history(
    sqlite_url: str, tmp_path: Path
) -> None:
    shell = _terminal(tmp_path, sqlite_url)
    shell.expect_exact("#incidents>")
    shell.send("/incident declare Disk full on db3" + LEFT + "-\r")
    shell.expect(r"Declared INC-1 \(SEV\d \w+\): Disk full on db-3 ")
    shell.expect_exact("#incidents>")
    shell.send(UP + "\r")
    shell.expect(r"Declared INC-2 \(SEV\d \w+\): Disk full on db-3 ")
    shell.expect_exact("#incidents>")
    shell.send(CTRL_D)
    code, shown = _ended(shell)
    assert code == 0
    assert shown.endswith("\n"), f"the next prompt is glued to the shell's: {shown!r}"

    history = tmp_path / "data" / "tocsin" / "shell-history"
    assert "+/incident declare Disk full on db-3\n" in history.read_text()
    assert stat.S_IMODE(history.stat().st_mode) == 0o600
    again = _terminal(tmp_path, sqlite_url)
    again.expect_exact("#incidents>")
    again.send(UP + "\r")
    again.expect(r"Declared INC-3 \(SEV\d \w+\): Disk full on db-3 ")
    again.expect_exact("#incidents>")
    again.send(CTRL_D)
    assert _ended(again)[0] == 0


def test_a_history_that_cannot_be_written_is_kept_for_the_session(
    sqlite_url: str, tmp_path: Path
) -> None:
    (tmp_path / "not-a-directory").write_text("")
    shell = _terminal(tmp_path, sqlite_url, data=tmp_path / "not-a-directory")
    shell.expect_exact("(the shell's history is kept for this session only:")
    shell.expect_exact("#incidents>")
    shell.send("/incident declare Disk full\r")
    shell.expect_exact("Declared INC-1")
    shell.expect_exact("#incidents>")
    shell.send(UP + "\r")
    shell.expect_exact("Declared INC-2")
    shell.expect_exact("#incidents>")
    shell.send(CTRL_D)
    code, shown = _ended(shell)
    assert code == 0 and "Traceback" not in shown


def test_ctrl_c_at_a_terminal_prompt_leaves_at_once(sqlite_url: str, tmp_path: Path) -> None:
    shell = _terminal(tmp_path, sqlite_url)
    shell.expect_exact("#incidents>")
    shell.send("half a line")
    shell.expect_exact("half a line")
    shell.send(CTRL_C)  # and no Enter
    code, shown = _ended(shell)
    assert code == 130
    assert shown.endswith("\n") and "Traceback" not in shown


def test_ctrl_c_in_a_form_of_a_terminal_leaves_at_once(sqlite_url: str, tmp_path: Path) -> None:
    shell = _terminal(tmp_path, sqlite_url)
    shell.expect_exact("#incidents>")
    shell.send("/incident declare\r")
    shell.expect_exact("Title:")
    shell.send(CTRL_C)
    code, shown = _ended(shell)
    assert code == 130 and "Traceback" not in shown and "Declared" not in shown


def test_a_bad_answer_in_a_form_of_a_terminal_is_offered_again_to_correct(
    sqlite_url: str, tmp_path: Path
) -> None:
    """In a terminal a bad answer is asked again, offered for editing, the answers before
    it kept; emptying a required one cancels, so a form never holds the shell."""
    (tmp_path / "tocsin.toml").write_text('[services.api]\ndescription = "The public API"\n')
    shell = _terminal(tmp_path, sqlite_url)
    shell.expect_exact("#incidents>")
    shell.send("/incident declare\r")
    shell.expect_exact("Title:")
    shell.send("Disk full on db-3\r")
    shell.expect_exact("(default 3):")
    shell.send("7\r")
    shell.expect_exact("⚠️ '7' is not a severity: use 1-4")
    shell.expect_exact("(default 3): 7")  # offered again, to be corrected
    shell.send(BACKSPACE + "2\r")
    shell.expect_exact("Service [api] (optional):")
    shell.send("nope\r")
    shell.expect_exact("⚠️ there is no service 'nope'. The services are: api.")
    shell.expect_exact("(optional): nope")
    shell.send(BACKSPACE * 4 + "api\r")
    shell.expect_exact("What is happening? (optional):")
    shell.send("the WAL volume\r")
    shell.expect_exact("Service: api\r\n│ the WAL volume\r\n")  # on the card
    shell.expect_exact("Declared INC-1 (SEV2 major): Disk full on db-3")
    shell.expect_exact("#incidents>")
    shell.send("#inc-1-disk-full-on-db-3\r")
    shell.expect_exact("#inc-1-disk-full-on-db-3>")
    shell.send("2\r")
    shell.expect_exact("Status [investigating | identified | monitoring]:")
    shell.send("monitorin\r")
    shell.expect_exact("⚠️ 'monitorin'")
    shell.expect_exact("monitoring]: monitorin")
    shell.send(BACKSPACE * 9 + "\r")  # emptied: a required answer, so the form is cancelled
    shell.expect_exact("(cancelled)")
    shell.expect_exact("#inc-1-disk-full-on-db-3>")
    shell.send("2\r")
    shell.expect_exact("monitoring]:")
    shell.send("monitorin\r")
    shell.expect_exact("⚠️ 'monitorin'")
    shell.expect_exact("monitoring]: monitorin")
    shell.send("g\r")  # the answer offered again, corrected
    shell.expect_exact("What changed? (optional):")
    shell.send("freed 20 GB\r")
    shell.expect_exact("INC-1 is now monitoring.")
    shell.expect_exact("#inc-1-disk-full-on-db-3>")
    shell.send("/incident timeline\r")
    shell.expect_exact("alice set the status to monitoring: freed 20 GB")
    shell.expect_exact("#inc-1-disk-full-on-db-3>")
    shell.send(CTRL_D)
    code, shown = _ended(shell)
    assert code == 0 and "Traceback" not in shown


def _unread(pipe: IO[str]) -> int:
    """How many bytes written to ``pipe`` its reader has not taken yet (FIONREAD, which a
    pipe answers on either end: Linux, macOS)."""
    count = array.array("i", [0])
    fcntl.ioctl(pipe.fileno(), termios.FIONREAD, count, True)
    return count[0]


def test_an_interrupt_leaves_a_shell_that_waits_on_a_pipe(sqlite_url: str, tmp_path: Path) -> None:
    """SIGINT (what Ctrl-C sends to `cat | tocsin shell`) while the shell waits for a line
    that may never come: it leaves without one."""
    with subprocess.Popen(
        [sys.executable, "-m", "bot.cli", "shell", "--as", "alice"],
        cwd=tmp_path,
        env=tocsin_env(sqlite_url),
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    ) as shell:
        try:
            assert shell.stdin is not None and shell.stdout and shell.stderr
            shell.stdin.write("/incident list\n")
            shell.stdin.flush()
            assert shell.stdout.readline() == "@alice #incidents> /incident list\n"
            assert shell.stdout.readline().startswith("→ ")
            # Half a line: once the shell has taken it from the pipe, it is reading the
            # next line, and waits for the rest, which never comes.
            shell.stdin.write("/incident declare Never finished")
            shell.stdin.flush()
            deadline = time.monotonic() + 30
            while _unread(shell.stdin):
                assert time.monotonic() < deadline, "the shell never read its next line"
                time.sleep(0.05)
            shell.send_signal(signal.SIGINT)
            assert shell.wait(timeout=30) == 130
            assert "Traceback" not in shell.stderr.read()
            assert "Never finished" not in shell.stdout.read()
        finally:
            if shell.poll() is None:
                shell.kill()


def test_a_sigint_at_a_terminal_prompt_ends_its_line_once(sqlite_url: str, tmp_path: Path) -> None:
    """``kill -INT`` (not the Ctrl-C key) while the prompt is up: one newline, no blank line."""
    shell = _terminal(tmp_path, sqlite_url)
    shell.expect_exact("#incidents>")
    shell.kill(signal.SIGINT)
    code, shown = _ended(shell)
    assert code == 130
    shown = shown.replace("\r", "")
    assert shown.endswith("\n") and not shown.endswith("\n\n"), repr(shown)


@pytest.mark.parametrize(
    "database_url", [pytest.param("postgres", marks=pytest.mark.postgres)], indirect=True
)
async def test_ctrl_c_while_a_command_runs_leaves_with_a_clean_line(
    database_url: str, tmp_path: Path
) -> None:
    """The command waits on a table the test has locked: Ctrl-C then is a signal (the
    terminal is not the prompt's), and the shell leaves at once, ending the ^C line."""
    import asyncpg

    locker = await asyncpg.connect(
        make_url(database_url).set(drivername="postgresql").render_as_string(hide_password=False)
    )
    shell = _terminal(tmp_path, database_url)
    try:
        await shell.expect_exact("#incidents>", async_=True)
        await locker.execute("BEGIN; LOCK TABLE incidents IN ACCESS EXCLUSIVE MODE")
        shell.send("/incident declare Stuck\r")  # waits to write
        # pg_locks, not pg_stat_activity: that one is a snapshot kept for the transaction.
        waiting = (
            "SELECT count(*) FROM pg_locks WHERE NOT granted AND relation = 'incidents'::regclass"
            " AND database = (SELECT oid FROM pg_database WHERE datname = current_database())"
        )
        while True:  # until the shell's write waits for the lock
            if await locker.fetchval(waiting):
                break
            await asyncio.sleep(0.05)
        shell.sendintr()
        await shell.expect(pexpect.EOF, async_=True)
        shown = _DRAWING.sub("", shell.before).replace("\r", "")
        shell.close()
        assert shell.exitstatus == 130
        assert shown.endswith("^C\n"), repr(shown)
    finally:
        await locker.close()
        if shell.isalive():
            shell.terminate(force=True)


PAGING = """\
[people.alice]
name = "Alice"
[people.bob]
name = "Bob"

[policies.default]
[[policies.default.levels]]
targets = ["person:bob"]
escalate_after = "30m"
"""


def test_a_page_is_a_dm_line_whose_button_is_clicked_by_number(
    sqlite_url: str, tmp_path: Path
) -> None:
    (tmp_path / "tocsin.toml").write_text(PAGING)
    script = "/incident declare DB down --sev 1\n1\n/incident pages INC-1\n"
    result = tocsin(
        "shell", "--as", "alice", cwd=tmp_path, env=tocsin_env(sqlite_url), stdin=script
    )
    assert result.returncode == 0, result.stderr
    out = result.stdout
    page = out.index("[DM @bob] card\n┌ 📟 INC-1 · level 1 · DB down")
    assert "└ [1] Acknowledge" in out[page:]
    assert "[#inc-1-db-down] 📟 Paged level 1 for INC-1: @bob." in out
    updated = out.index("[DM @bob] card updated")
    assert "✅ Acknowledged by Alice" in out[updated:]
    assert "level 1 · Bob on console · sent" in out
