"""The tocsin command: version, migrate, check-config, export, run, and plain failures."""

from __future__ import annotations

import asyncio
import json
import os
import re
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from urllib.parse import quote

import pytest
from sqlalchemy import text

from bot import __version__
from storage.engine import create_engine
from storage.migrate import head_revision
from tests.cli import tocsin, tocsin_env, tocsin_inline

UNREACHABLE = "postgresql+asyncpg://postgres:hunter2@127.0.0.1:1/nowhere"


def test_version(tmp_path: Path) -> None:
    result = tocsin("--version", cwd=tmp_path, env=tocsin_env("sqlite+aiosqlite:///x.db"))
    assert result.stdout.strip() == f"tocsin {__version__}"


def test_no_command_prints_help_and_fails(tmp_path: Path) -> None:
    result = tocsin_inline(cwd=tmp_path, env=tocsin_env("sqlite+aiosqlite:///x.db"))
    assert result.returncode == 2
    assert "shell" in result.stdout and "check-config" in result.stdout


def test_migrate_then_check_config_passes(empty_database_url: str, tmp_path: Path) -> None:
    env = tocsin_env(empty_database_url)
    migrated = tocsin_inline("migrate", cwd=tmp_path, env=env)
    assert migrated.returncode == 0, migrated.stderr
    assert f"is at schema revision {head_revision()}" in migrated.stdout
    checked = tocsin_inline("check-config", cwd=tmp_path, env=env)
    assert checked.returncode == 0, checked.stdout
    assert "✓ config: built-in defaults" in checked.stdout
    assert "✓ database:" in checked.stdout
    assert f"schema at {head_revision()}" in checked.stdout


def test_check_config_explains_a_bad_file(database_url: str, tmp_path: Path) -> None:
    (tmp_path / "tocsin.toml").write_text("[incident]\nannounce = 'x'\nchannel_prefix = 'X'\n")
    result = tocsin_inline("check-config", cwd=tmp_path, env=tocsin_env(database_url))
    assert result.returncode == 1
    lines = report(result)
    assert lines[1] == (
        "✗ config: tocsin.toml:2: unknown key 'incident.announce' (did you mean "
        "'announce_channel'?)"
    )
    assert lines[2].startswith('✗ config: tocsin.toml:3: incident.channel_prefix: "X" is not')
    assert lines[3].startswith("✓ database:"), "the rest of the report follows"


def test_check_config_reports_checks_across_keys_with_the_keys_that_are_wrong(
    sqlite_url: str, tmp_path: Path
) -> None:
    """pydantic checks across keys only once every key is valid: the keys that are not are
    left out and the rest validated again, so one run reports everything."""
    (tmp_path / "tocsin.toml").write_text(
        "[incident]\ndefault_severity = 7\n"
        "[severities.SEV1]\nlabel = 'critical'\ncolour = 'red'\n"
        "[severities.SEV2]\nlabel = 'sev1'\n"
    )
    result = tocsin_inline("check-config", cwd=tmp_path, env=tocsin_env(sqlite_url))
    assert result.returncode == 1
    config = [line for line in report(result) if line.startswith("✗ config:")]
    assert [line.split(": ")[1] for line in config] == [
        "tocsin.toml:2",
        "tocsin.toml:5",
        "tocsin.toml:7",
    ], config
    assert "default_severity: 7 is not a severity here" in config[0]
    assert "colour" in config[1] and "would mean SEV1" in config[2]


def test_a_bad_config_stops_the_shell_with_the_reason(database_url: str, tmp_path: Path) -> None:
    (tmp_path / "tocsin.toml").write_text("[severities.SEV1]\nlabel = 'x'\ncolour = 'red'\n")
    result = tocsin_inline("shell", cwd=tmp_path, env=tocsin_env(database_url), stdin="")
    assert result.returncode == 2
    assert "configuration error" in result.stderr
    assert "tocsin.toml:3: severities.SEV1.colour" in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize("command", ["shell", "migrate", "run", "check-config"])
def test_an_unreachable_database_is_said_without_a_traceback(command: str, tmp_path: Path) -> None:
    result = tocsin_inline(command, cwd=tmp_path, env=tocsin_env(UNREACHABLE), stdin="")
    output = result.stdout + result.stderr
    assert result.returncode == 1
    assert "cannot reach the database at postgresql+asyncpg://postgres:***@127.0.0.1:1" in output
    assert "hunter2" not in output
    assert "Traceback" not in output


def test_a_database_from_a_newer_tocsin_is_refused(database_url: str, tmp_path: Path) -> None:
    async def bump() -> None:
        engine = create_engine(database_url)
        async with engine.begin() as conn:
            await conn.execute(text("UPDATE alembic_version SET version_num = '0999'"))
        await engine.dispose()

    asyncio.run(bump())
    result = tocsin_inline("shell", cwd=tmp_path, env=tocsin_env(database_url), stdin="")
    assert result.returncode == 1
    assert "schema revision 0999, which this Tocsin does not know" in result.stderr
    assert "Traceback" not in result.stderr


def test_export_prints_the_timeline(database_url: str, tmp_path: Path) -> None:
    env = tocsin_env(database_url)
    tocsin_inline("shell", cwd=tmp_path, env=env, stdin="/incident declare Queue backlog\n")
    result = tocsin_inline("export", "INC-1", cwd=tmp_path, env=env)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("# INC-1: Queue backlog\n")
    written = tocsin_inline("export", "inc-1", "--output", "out.md", cwd=tmp_path, env=env)
    assert written.returncode == 0
    assert (tmp_path / "out.md").read_text().startswith("# INC-1: Queue backlog")
    missing = tocsin_inline("export", "INC-9", cwd=tmp_path, env=env)
    assert (missing.returncode, missing.stderr.strip()) == (
        1,
        "tocsin: there is no incident INC-9.",
    )
    bogus = tocsin_inline("export", "yesterday", cwd=tmp_path, env=env)
    assert "'yesterday' is not an incident reference" in bogus.stderr


def test_run_serves_health_and_metrics_and_stops_cleanly(database_url: str, tmp_path: Path) -> None:
    env = tocsin_env(database_url, TOCSIN_HTTP_PORT="0")
    with subprocess.Popen(
        [sys.executable, "-m", "bot.cli", "run"],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    ) as process:
        assert process.stderr is not None
        try:
            port, log = None, []
            deadline = time.monotonic() + 60
            while port is None and time.monotonic() < deadline:
                line = process.stderr.readline()
                if not line and process.poll() is not None:
                    break
                log.append(line)
                if match := re.search(r"listening on http://127\.0\.0\.1:(\d+)", line):
                    port = int(match.group(1))
            assert port, "".join(log)
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=10) as response:
                assert response.status == 200
                assert json.load(response) == {
                    "status": "ok",
                    "database": "ok",
                    "version": __version__,
                }
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as response:
                body = response.read().decode()
            assert "tocsin_open_incidents 0" in body
            with pytest.raises(urllib.error.HTTPError):
                urllib.request.urlopen(f"http://127.0.0.1:{port}/nowhere", timeout=10)
            process.send_signal(signal.SIGTERM)
            assert process.wait(timeout=30) == 0
            everything = "".join(log) + process.stderr.read()
        finally:
            if process.poll() is None:
                process.kill()
    assert "no chat platform is configured" in everything and "tocsin shell" in everything
    assert "Traceback" not in everything
    # The access log has every request but the probes'.
    assert re.search(
        r'INFO aiohttp\.access: 127\.0\.0\.1 "GET /nowhere HTTP/1\.1" 404 ', everything
    )
    assert '"GET /healthz' not in everything and '"GET /metrics' not in everything


def test_declare_from_the_cli_and_a_running_shell_opens_the_channel(
    database_url: str, tmp_path: Path
) -> None:
    env = tocsin_env(database_url)
    declared = tocsin_inline(
        "declare", "Disk full on db-3", "--sev", "2", "--as", "dana", cwd=tmp_path, env=env
    )
    assert declared.returncode == 0, declared.stderr
    assert declared.stdout.startswith("Declared INC-1 (SEV2 major): Disk full on db-3\n")
    assert "\nA running `tocsin shell` opens its channel and announces it." in declared.stdout
    shell = tocsin_inline("shell", "--as", "erin", cwd=tmp_path, env=env, stdin="/incident list\n")
    assert shell.returncode == 0, shell.stderr
    assert "[#inc-1-disk-full-on-db-3] channel created" in shell.stdout
    assert "[#incidents] 🚨 New incident INC-1 · SEV2 major: Disk full on db-3" in shell.stdout
    assert "Commander: @dana" in shell.stdout
    exported = tocsin_inline("export", "INC-1", cwd=tmp_path, env=env)
    assert "| dana | declared the incident (SEV2): Disk full on db-3 |" in exported.stdout
    assert "opened the channel #inc-1-disk-full-on-db-3" in exported.stdout


@pytest.mark.parametrize(
    ("args", "toml", "code", "said"),
    [
        (["--sev", "9"], "", 1, "'9' is not a severity: use 1-4"),
        (["--service", "api"], "[services.db]\n", 1, "there is no service 'api'"),
        (
            [],
            "[incident]\nplatform = 'irc'\n",
            2,
            "[incident] platform is 'irc', which is not installed",
        ),
    ],
)
def test_declare_from_the_cli_refuses_bad_input(
    database_url: str, tmp_path: Path, args: list[str], toml: str, code: int, said: str
) -> None:
    (tmp_path / "tocsin.toml").write_text(toml)
    result = tocsin_inline(
        "declare", "Something", *args, cwd=tmp_path, env=tocsin_env(database_url)
    )
    assert (result.returncode, said in result.stderr) == (code, True), result.stderr
    assert "Traceback" not in result.stderr
    listed = tocsin_inline("export", "INC-1", cwd=tmp_path, env=tocsin_env(database_url))
    assert "there is no incident INC-1" in listed.stderr


def test_declare_needs_a_platform_when_several_run(database_url: str, tmp_path: Path) -> None:
    env = tocsin_env(
        database_url,
        SLACK_BOT_TOKEN="xoxb-1",
        SLACK_SIGNING_SECRET="s",
        DISCORD_TOKEN="t",
    )
    result = tocsin_inline("declare", "Something", cwd=tmp_path, env=env)
    assert result.returncode == 2
    assert "several chat platforms are configured (discord, slack)" in result.stderr
    (tmp_path / "tocsin.toml").write_text("[incident]\nplatform = 'slack'\n")
    result = tocsin_inline("declare", "Something", cwd=tmp_path, env=env)
    assert result.returncode == 0 and "`tocsin run` opens its channel on Slack" in result.stdout


# --- issue 9: one-line errors, exit codes, no secrets, quiet broken pipes ---------------


def one_line(text: str) -> str:
    """The only line of ``text``; fails if there are more (a traceback, say)."""
    lines = text.strip().splitlines()
    assert len(lines) == 1, text
    return lines[0]


@pytest.mark.parametrize(
    ("env", "said"),
    [
        ({"TOCSIN_HTTP_PORT": "²"}, "tocsin: TOCSIN_HTTP_PORT must be a number from 0 to 65535"),
        ({"TOCSIN_HTTP_PORT": "٣٠٠٠"}, "tocsin: TOCSIN_HTTP_PORT must be a number from 0"),
        ({"DISCORD_TOKEN": "t", "DISCORD_SHARD_COUNT": "²"}, "tocsin: DISCORD_SHARD_COUNT"),
        ({"DISCORD_TOKEN": "t", "DISCORD_GUILD_IDS": "¹²"}, "tocsin: DISCORD_GUILD_IDS"),
        (
            {"DISCORD_TOKEN": "t", "DISCORD_API_URL": "http://127.0.0.1:notaport/api"},
            "tocsin: DISCORD_API_URL must be an http(s) URL",
        ),
        (
            {"TOCSIN_DATABASE_URL": "postgresql+asyncpg://u:hunter2@db:notaport/x"},
            "tocsin: TOCSIN_DATABASE_URL: the port must be a number from 1 to 65535",
        ),
        (
            {"TOCSIN_DATABASE_URL": "://u:hunter2@db/x"},
            "tocsin: TOCSIN_DATABASE_URL is not a database URL",
        ),
        ({"TOCSIN_CONFIG": "missing.toml"}, "tocsin: TOCSIN_CONFIG points to 'missing.toml'"),
    ],
)
def test_a_bad_setting_is_one_line_and_exit_2(
    tmp_path: Path, env: dict[str, str], said: str
) -> None:
    result = tocsin_inline("run", cwd=tmp_path, env=tocsin_env("sqlite+aiosqlite:///x.db", **env))
    assert result.returncode == 2
    assert one_line(result.stderr).startswith(said), result.stderr
    assert "hunter2" not in result.stderr
    assert list(tmp_path.iterdir()) == [], "nothing was started, nothing created"


def test_a_bad_setting_in_a_real_process(tmp_path: Path) -> None:
    env = tocsin_env("sqlite+aiosqlite:///x.db", DISCORD_TOKEN="t", DISCORD_SHARD_COUNT="²")
    result = tocsin("run", cwd=tmp_path, env=env)
    assert (result.returncode, result.stdout) == (2, "")
    assert one_line(result.stderr) == (
        "tocsin: DISCORD_SHARD_COUNT must be a positive number (at most 999999), not '²'"
    )


def test_run_says_when_its_port_is_taken(sqlite_url: str, tmp_path: Path) -> None:
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        env = tocsin_env(sqlite_url, TOCSIN_HTTP_PORT=str(port))
        result = tocsin_inline("run", cwd=tmp_path, env=env)
    assert result.returncode == 1
    said = f"tocsin: cannot serve HTTP on 127.0.0.1:{port} (TOCSIN_HTTP_HOST, TOCSIN_HTTP_PORT)"
    assert f"{said}: address already in use" in result.stderr.splitlines()
    assert "Traceback" not in result.stderr


def test_run_says_when_its_host_is_unknown(sqlite_url: str, tmp_path: Path) -> None:
    env = tocsin_env(sqlite_url, TOCSIN_HTTP_HOST="no.such.host.invalid", TOCSIN_HTTP_PORT="0")
    result = tocsin("run", cwd=tmp_path, env=env)
    assert result.returncode == 1
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("tocsin: cannot serve HTTP on no.such.host.invalid:0 "), result.stderr
    assert "Traceback" not in result.stderr


@pytest.fixture
def one_incident(sqlite_url: str, tmp_path: Path) -> dict[str, str]:
    env = tocsin_env(sqlite_url)
    declared = tocsin_inline("declare", "Queue backlog", cwd=tmp_path, env=env)
    assert declared.returncode == 0, declared.stderr
    return env


@pytest.mark.parametrize(
    ("output", "code", "said"),
    [
        (".", 2, "tocsin: -o .: is a folder; give a file name, like -o inc-7.md"),
        ("nope/inc-1.md", 2, "tocsin: -o nope/inc-1.md: the folder nope does not exist"),
        ("/dev/full", 1, "tocsin: cannot write /dev/full: no space left on device"),
    ],
)
def test_export_to_a_place_it_cannot_write_is_one_line(
    one_incident: dict[str, str], tmp_path: Path, output: str, code: int, said: str
) -> None:
    before = sorted(tmp_path.iterdir())
    result = tocsin_inline("export", "INC-1", "-o", output, cwd=tmp_path, env=one_incident)
    assert (result.returncode, one_line(result.stderr), result.stdout) == (code, said, "")
    assert sorted(tmp_path.iterdir()) == before


@pytest.mark.parametrize(
    ("reference", "said"),
    [
        ("INC-99999999999999999999", "tocsin: there is no incident INC-99999999999999999999."),
        ("INC-²", "tocsin: 'INC-²' is not an incident reference; use INC-<number>, e.g. INC-7."),
        ("INC-2", "tocsin: there is no incident INC-2."),
    ],
)
def test_export_of_a_bad_reference_is_one_line_and_writes_nothing(
    one_incident: dict[str, str], tmp_path: Path, reference: str, said: str
) -> None:
    result = tocsin_inline("export", reference, "-o", "out.md", cwd=tmp_path, env=one_incident)
    assert (result.returncode, one_line(result.stderr)) == (1, said)
    assert not (tmp_path / "out.md").exists()


def test_export_where_there_is_no_database_yet_creates_none(tmp_path: Path) -> None:
    env = tocsin_env("x")
    del env["TOCSIN_DATABASE_URL"]  # the default: ./tocsin.db, not there yet
    result = tocsin_inline("export", "INC-1", cwd=tmp_path, env=env)
    assert (result.returncode, result.stdout) == (1, "")
    assert one_line(result.stderr) == (
        "tocsin: there is no database at tocsin.db yet: `tocsin run` or `tocsin shell` "
        "creates it (or: tocsin migrate)"
    )
    assert list(tmp_path.iterdir()) == []


def test_export_dash_is_standard_output(one_incident: dict[str, str], tmp_path: Path) -> None:
    result = tocsin_inline("export", "INC-1", "-o", "-", cwd=tmp_path, env=one_incident)
    assert result.returncode == 0 and result.stdout.startswith("# INC-1: Queue backlog\n")
    assert not (tmp_path / "-").exists() and result.stderr == ""
    written = tocsin_inline("export", "INC-1", "-o", "out.md", cwd=tmp_path, env=one_incident)
    assert (written.stdout, written.stderr) == ("", "wrote out.md\n")


@pytest.mark.parametrize(
    "args",
    [
        ["slack-manifest", "--socket-mode"],
        ["export", "INC-1"],
        ["check-config"],
        ["discord-invite", "--client-id", "42"],
        ["shell"],
        ["--version"],
    ],
)
def test_a_reader_that_goes_away_ends_the_command_quietly(
    one_incident: dict[str, str], tmp_path: Path, args: list[str]
) -> None:
    """`tocsin … | head -3`: the pipe is closed before the command writes at all."""
    import os

    read, write = os.pipe()
    os.close(read)
    try:
        result = subprocess.run(
            [sys.executable, "-m", "bot.cli", *args],
            input="/incident list\n",
            stdout=write,
            stderr=subprocess.PIPE,
            text=True,
            cwd=tmp_path,
            env=one_incident,
            timeout=60,
            check=False,
        )
    finally:
        os.close(write)
    assert (result.returncode, result.stderr) == (141, "")


def test_slack_manifest_without_url_says_what_to_do(tmp_path: Path) -> None:
    result = tocsin_inline("slack-manifest", cwd=tmp_path, env=tocsin_env("sqlite+aiosqlite:///x"))
    assert result.returncode == 2
    assert one_line(result.stderr) == (
        "tocsin: --url must be the public https:// address Slack will call, and none was "
        "given (or use --socket-mode)"
    )


def test_the_shell_names_an_exported_file_once(sqlite_url: str, tmp_path: Path) -> None:
    env = tocsin_env(sqlite_url)
    result = tocsin_inline(
        "shell", cwd=tmp_path, env=env, stdin="/incident declare Hi\n/incident export INC-1\n"
    )
    attached = [line for line in result.stdout.splitlines() if "] 📎" in line]
    assert len(attached) == 1 and attached[0].count("inc-1-timeline.md") == 1, result.stdout
    assert attached[0].endswith("· Timeline of INC-1")


# --- check-config: the whole report, whatever is wrong; it creates nothing -------------


def line_of(result: subprocess.CompletedProcess[str], part: str) -> str:
    """The report's line about ``part`` (``database``, ``config``…)."""
    return next(line for line in report(result) if line[2:].startswith(f"{part}: "))


def report(result: subprocess.CompletedProcess[str]) -> list[str]:
    """The report's lines: each starts with its mark (✓, ✗ or ·)."""
    lines = result.stdout.splitlines()
    assert lines and all(line[:2] in ("✓ ", "✗ ", "· ") for line in lines), result.stdout
    return lines


def test_check_config_in_a_fresh_folder_creates_nothing(tmp_path: Path) -> None:
    env = tocsin_env("x")
    del env["TOCSIN_DATABASE_URL"]
    result = tocsin_inline("check-config", cwd=tmp_path, env=env)
    assert result.returncode == 0, result.stdout
    assert (
        "· database: sqlite+aiosqlite:///./tocsin.db does not exist yet; it will be created on "
        "first run" in report(result)
    )
    assert "run: tocsin migrate" not in result.stdout
    assert list(tmp_path.iterdir()) == []


def journal_mode(path: Path) -> str:
    """What a SQLite file's header says (read as bytes: opening it could change it)."""
    return {b"\x01\x01": "delete", b"\x02\x02": "wal"}[path.read_bytes()[18:20]]


def test_check_config_says_in_words_what_it_counts_and_why_a_database_is_unreachable(
    tmp_path: Path,
) -> None:
    import socket

    with socket.socket() as closed:  # a port nobody listens on
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    env = tocsin_env(f"postgresql+asyncpg://postgres@127.0.0.1:{port}/x")
    lines = report(tocsin_inline("check-config", cwd=tmp_path, env=env))
    assert "✓ config: built-in defaults (no tocsin.toml): 4 severities, 3 roles, 0 people, " in (
        "\n".join(lines)
    )
    assert any(
        line.startswith("✗ database:") and line.endswith(": connection refused") for line in lines
    )
    assert "Errno" not in "\n".join(lines)


@pytest.mark.parametrize("mode", ["delete", "wal", "wal, in use"])
def test_check_config_of_an_existing_sqlite_file_changes_nothing(
    sqlite_url: str, tmp_path: Path, mode: str
) -> None:
    """Neither the file (its journal mode included) nor its folder: no -wal or -shm file
    is left, nor appears for a moment (that would change the folder's time)."""
    folder = tmp_path / "data #1 100%"  # a path that must be escaped in a SQLite URI
    folder.mkdir()
    path = folder / "tocsin.db"
    shutil.move(sqlite_url.removeprefix("sqlite+aiosqlite:///"), path)
    with sqlite3.connect(path) as setup:
        setup.execute(f"PRAGMA journal_mode={mode.split(',')[0]}")
    setup.close()
    user = sqlite3.connect(path)  # another process, say, reading while check-config runs
    if mode == "wal, in use":
        user.execute("SELECT * FROM alembic_version").fetchall()
    else:
        user.close()
    before = sorted(p.name for p in folder.iterdir())
    for each in (folder, *folder.iterdir()):
        os.utime(each, ns=(10**18, 10**18))  # long ago: a change makes it now
    try:
        env = tocsin_env(f"sqlite+aiosqlite:///{path}")
        result = tocsin_inline("check-config", cwd=tmp_path, env=env)
        assert result.returncode == 0, result.stdout
        assert f"answers, schema at {head_revision()}" in line_of(result, "database"), result.stdout
        assert sorted(p.name for p in folder.iterdir()) == before
        assert folder.stat().st_mtime_ns == path.stat().st_mtime_ns == 10**18
        assert journal_mode(path) == mode.split(",")[0]
    finally:
        user.close()


def test_check_config_reads_a_sqlite_uri_filename_as_sqlite_does(
    sqlite_url: str, tmp_path: Path
) -> None:
    """file://localhost/path and %-escapes (decoded once by SQLAlchemy, once more by SQLite):
    the file SQLite opens is the file checked, not one said to be created on first run."""
    folder = tmp_path / "100% my data"
    folder.mkdir()
    path = folder / "tocsin.db"
    shutil.move(sqlite_url.removeprefix("sqlite+aiosqlite:///"), path)
    url = f"sqlite+aiosqlite:///file://localhost{quote(quote(str(path)))}?uri=true"
    result = tocsin_inline("check-config", cwd=tmp_path, env=tocsin_env(url))
    assert result.returncode == 0, result.stdout
    assert line_of(result, "database").endswith(f"answers, schema at {head_revision()}"), (
        result.stdout
    )


def test_check_config_of_a_database_that_does_not_answer_says_so_within_seconds(
    tmp_path: Path,
) -> None:
    """A host that takes the connection and never answers (a partition, a dead server
    behind a load balancer) is reported after DATABASE_WAIT, as /healthz does."""
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen()  # the kernel completes the handshake; nobody ever reads or answers
        port = silent.getsockname()[1]
        url = f"postgresql+asyncpg://postgres:hunter2@127.0.0.1:{port}/tocsin"
        result = tocsin_inline("check-config", cwd=tmp_path, env=tocsin_env(url))
    assert result.returncode == 1
    assert (
        f"✗ database: the database at postgresql+asyncpg://postgres:***@127.0.0.1:{port}/tocsin "
        "did not answer within 5 s" in report(result)
    )
    assert "hunter2" not in result.stdout + result.stderr


def test_check_config_of_a_sqlite_file_in_a_missing_folder_fails(tmp_path: Path) -> None:
    env = tocsin_env("sqlite+aiosqlite:///nope/tocsin.db")
    result = tocsin_inline("check-config", cwd=tmp_path, env=env)
    assert result.returncode == 1
    assert (
        "✗ database: sqlite+aiosqlite:///nope/tocsin.db: the folder nope does not exist; create "
        "it or change TOCSIN_DATABASE_URL" in report(result)
    )
    assert list(tmp_path.iterdir()) == []


def test_check_config_of_an_empty_or_older_database_says_run_will_migrate_it(
    empty_database_url: str, tmp_path: Path
) -> None:
    env = tocsin_env(empty_database_url)
    sqlite = empty_database_url.startswith("sqlite")
    fresh = tocsin_inline("check-config", cwd=tmp_path, env=env)
    assert fresh.returncode == 0, fresh.stdout
    shown = empty_database_url.split("://", 1)[1]
    expected = (
        "does not exist yet; it will be created on first run"
        if sqlite
        else "answers and is empty; it will be migrated on first run (or now: tocsin migrate)"
    )
    assert any(shown in line and line.endswith(expected) for line in report(fresh)), fresh.stdout

    async def migrate_to(revision: str) -> None:
        from alembic import command

        from storage.migrate import alembic_config

        engine = create_engine(empty_database_url)
        async with engine.begin() as conn:
            await conn.run_sync(lambda sync: command.upgrade(alembic_config(sync), revision))
        await engine.dispose()

    asyncio.run(migrate_to("0002"))
    older = tocsin_inline("check-config", cwd=tmp_path, env=env)
    assert older.returncode == 0, older.stdout
    assert (
        f"is at schema 0002; it will be migrated to {head_revision()} on first run (or now: "
        "tocsin migrate)" in older.stdout
    )


def test_check_config_reports_bad_settings_as_lines_of_the_report(tmp_path: Path) -> None:
    env = tocsin_env(
        "postgresql+asyncpg://u:hunter2@db:notaport/x",
        TOCSIN_CONFIG="missing.toml",
        TOCSIN_HTTP_PORT="²",
        SLACK_BOT_TOKEN="xoxb-1",
    )
    result = tocsin_inline("check-config", cwd=tmp_path, env=env)
    assert result.returncode == 1 and result.stderr == ""
    lines = report(result)
    assert lines[0] == "✗ settings: TOCSIN_HTTP_PORT must be a number from 0 to 65535, not '²'"
    assert lines[1] == "✗ config: TOCSIN_CONFIG points to 'missing.toml', which is not a file"
    assert lines[2].startswith("✗ database: TOCSIN_DATABASE_URL: the port must be a number")
    assert any(line.startswith("· Discord: not configured") for line in lines)
    assert any(
        line.startswith("✗ Slack: SLACK_BOT_TOKEN is set but SLACK_SIGNING_SECRET")
        for line in lines
    )
    assert "hunter2" not in result.stdout
    assert list(tmp_path.iterdir()) == []
