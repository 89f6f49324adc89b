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


class Running:
    """A ``tocsin run`` subprocess whose log is read as it comes (so it never blocks on a
    full pipe), to wait for a line, and to stop or kill it."""

    def __init__(self, process: asyncio.subprocess.Process) -> None:
        self.process = process
        self.log = ""
        self._grew = asyncio.Event()
        self._reader = asyncio.create_task(self._read())

    @classmethod
    async def start(cls, cwd: Path, env: dict[str, str], ready: str) -> Running:
        """``tocsin run``, once its log says ``ready``."""
        process = await spawn("run", cwd=cwd, env=env, stdout=asyncio.subprocess.DEVNULL)
        running = cls(process)
        await running.wait_for(ready)
        return running

    async def _read(self) -> None:
        assert self.process.stderr is not None
        while line := await self.process.stderr.readline():
            self.log += line.decode()
            self._grew.set()

    async def wait_for(self, text: str, within: float = 60) -> None:
        deadline = asyncio.get_running_loop().time() + within
        while text not in self.log:
            left = deadline - asyncio.get_running_loop().time()
            assert left > 0 and not self._reader.done(), f"never logged {text!r}:\n{self.log}"
            self._grew.clear()
            try:
                await asyncio.wait_for(self._grew.wait(), timeout=min(left, 1))
            except TimeoutError:
                continue

    @property
    def port(self) -> int:
        import re

        found = re.search(r"listening on http://127\.0\.0\.1:(\d+)", self.log)
        assert found, self.log
        return int(found.group(1))

    async def kill(self) -> None:
        self.process.kill()
        await self.process.wait()
        await self._reader

    async def stop(self, within: float = 30) -> int:
        """SIGTERM; its exit code once it has exited."""
        self.process.terminate()
        code = await asyncio.wait_for(self.process.wait(), timeout=within)
        await self._reader
        return code


def tocsin_inline(
    *args: str, cwd: Path, env: dict[str, str], stdin: str = ""
) -> subprocess.CompletedProcess[str]:
    """``tocsin <args>`` run in this process: the same ``main`` a user's command runs, with
    its environment, working directory, input and output, but no interpreter to start (for
    checks whose subject is what the command says, not how a process behaves)."""
    import contextlib
    import io

    from bot.cli import main

    saved_env, saved_cwd, saved_stdin = dict(os.environ), Path.cwd(), sys.stdin
    out, err = io.StringIO(), io.StringIO()
    try:
        os.environ.clear()
        os.environ.update(env)
        os.chdir(cwd)
        sys.stdin = io.StringIO(stdin)
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                code = main(list(args))
            except SystemExit as exc:  # argparse's --help and usage errors
                code = exc.code if isinstance(exc.code, int) else 2
    finally:
        os.environ.clear()
        os.environ.update(saved_env)
        os.chdir(saved_cwd)
        sys.stdin = saved_stdin
    return subprocess.CompletedProcess(list(args), code, out.getvalue(), err.getvalue())
