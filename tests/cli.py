"""Run the real ``tocsin`` command in a subprocess, as a user would."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from pathlib import Path


def tocsin_env(database_url: str, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TOCSIN_")}
    env.update({"TOCSIN_DATABASE_URL": database_url, "PYTHONUNBUFFERED": "1", **extra})
    return env


def tocsin(
    *args: str, cwd: Path, env: dict[str, str], stdin: str = "", timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "bot.cli", *args],
        input=stdin,
        capture_output=True,
        text=True,
        cwd=cwd,
        env=env,
        timeout=timeout,
        check=False,
    )


async def spawn(
    *args: str, cwd: Path, env: dict[str, str], stdout: int | None
) -> asyncio.subprocess.Process:
    """``tocsin <args>`` as an asyncio subprocess, its stderr piped (to talk to fakes that
    run in the test's own event loop meanwhile)."""
    return await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bot.cli",
        *args,
        cwd=cwd,
        env=env,
        stdout=stdout,
        stderr=asyncio.subprocess.PIPE,
    )
