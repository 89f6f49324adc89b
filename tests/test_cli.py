"""The tocsin command: version, migrate, check-config, export, run, and plain failures."""

from __future__ import annotations

import asyncio
import json
import re
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

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
    (tmp_path / "tocsin.toml").write_text("[incident]\nannounce = 'x'\n")
    result = tocsin_inline("check-config", cwd=tmp_path, env=tocsin_env(database_url))
    assert result.returncode == 1
    assert "tocsin.toml:2: unknown key 'incident.announce'" in result.stdout
    assert "(did you mean 'announce_channel'?)" in result.stdout


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
            process.send_signal(signal.SIGTERM)
            assert process.wait(timeout=30) == 0
            everything = "".join(log) + process.stderr.read()
        finally:
            if process.poll() is None:
                process.kill()
    assert "no chat platform is configured" in everything and "tocsin shell" in everything
    assert "Traceback" not in everything


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
