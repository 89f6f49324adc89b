"""Where the shell's lines come from: a terminal, with line editing and history, or a pipe.

Both read without blocking the event loop, so the worker runs (and prints reminders) while
the shell waits for a line. ``read`` raises :class:`EOFError` at the end of input (Ctrl-D)
and :class:`KeyboardInterrupt` for Ctrl-C at a prompt.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Protocol, TextIO

from bot.text import shown, strip_control

if TYPE_CHECKING:
    from prompt_toolkit import PromptSession
    from prompt_toolkit.patch_stdout import StdoutProxy

HISTORY_FILE = "shell-history"


class Lines(Protocol):
    out: TextIO
    """Where the shell prints: in a terminal, above the prompt being typed at."""

    async def read(self, prompt: str, *, again: str = "", command: bool = True) -> str:
        """The next line, without its newline. ``again``: a previous answer to edit (a
        terminal offers it; a pipe has already given its next line). ``command``: a line
        for the shell's history, not an answer to a form's question."""
        ...

    def interrupted(self) -> None:
        """SIGINT arrived (the shell is leaving): end the line the terminal is on."""
        ...

    def close(self) -> None: ...


def history_path() -> Path:
    """``$XDG_DATA_HOME/tocsin/shell-history`` (``~/.local/share/tocsin/…`` by default):
    the person's own commands, across databases, like a login shell's history."""
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "tocsin" / HISTORY_FILE


class TerminalLines:
    """prompt_toolkit on the event loop itself: arrow keys, Up/Down through the history
    kept in :func:`history_path` (this session's only, if that file cannot be written),
    Ctrl-C and Ctrl-D at once; whatever is printed meanwhile appears above the prompt."""

    def __init__(self) -> None:
        from prompt_toolkit import PromptSession
        from prompt_toolkit.history import FileHistory, History, InMemoryHistory
        from prompt_toolkit.patch_stdout import StdoutProxy

        self.note = ""
        """Why the history is not kept, if it is not."""
        history: History
        try:
            path = history_path()
            path.parent.mkdir(parents=True, exist_ok=True)
            # Created private: it holds what was typed about incidents.
            os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600))
            history = FileHistory(str(path))
        except (OSError, RuntimeError) as exc:  # RuntimeError: no home directory
            self.note = f"(the shell's history is kept for this session only: {exc})"
            history = InMemoryHistory()
        self._proxy: StdoutProxy = StdoutProxy(sleep_between_writes=0.05)
        self.out: TextIO = self._proxy  # type: ignore[assignment]  # a file in all but name
        self._commands: PromptSession[str] = PromptSession(history=history)
        self._answers: PromptSession[str] = PromptSession(history=InMemoryHistory())
        self._reading = False

    async def read(self, prompt: str, *, again: str = "", command: bool = True) -> str:
        session = self._commands if command else self._answers
        # Left True when the prompt ends in an exception (Ctrl-C, Ctrl-D, cancelled by a
        # SIGINT): prompt_toolkit has ended its line then.
        self._reading = True
        # handle_sigint: Ctrl-C is a key here; leave asyncio.run's SIGINT handler in place
        # for the rest of the time. set_exception_handler: the worker's errors are logged,
        # not shown as "press ENTER to continue".
        line = await session.prompt_async(
            prompt, default=again, handle_sigint=False, set_exception_handler=False
        )
        self._reading = False
        return line

    def interrupted(self) -> None:
        # At a prompt, prompt_toolkit ends its line itself. Between prompts (a command
        # running) the terminal has only echoed ^C.
        if not self._reading:
            self.out.write("\n")

    def close(self) -> None:
        self._proxy.close()


ECHO_MOST = 500
"""Characters of a piped line echoed after its prompt; the rest is cut (…)."""


class PipedLines:
    """Lines from a pipe or a file (or a terminal whose output is not a terminal): each is
    printed after its prompt, so the output reads like a session typed by hand."""

    def __init__(self, stdin: TextIO, out: TextIO) -> None:
        self._stdin = stdin
        self.out = out

    async def read(self, prompt: str, *, again: str = "", command: bool = True) -> str:
        line = await _readline(self._stdin)
        if line == "":
            raise EOFError
        line = line.rstrip("\r\n")
        # What was read goes to a terminal, maybe: without its control characters (an
        # escape sequence would act there), cut short as an error's echo is.
        self.out.write(f"{prompt}{shown(strip_control(line), ECHO_MOST)}\n")
        self.out.flush()
        return line

    def interrupted(self) -> None:
        pass  # the output is no terminal, or not the one that shows ^C

    def close(self) -> None:
        pass


async def _readline(stdin: TextIO) -> str:
    """``stdin.readline()`` in a daemon thread: unlike the loop's executor, one that waits
    for a line never holds up the exit after Ctrl-C."""
    loop = asyncio.get_running_loop()
    done: asyncio.Future[str] = loop.create_future()

    def settle(line: str | None, error: BaseException | None) -> None:
        if done.done():
            return
        if error is not None:
            done.set_exception(error)
        else:
            done.set_result(line or "")

    def read() -> None:
        line, error = None, None
        try:
            line = stdin.readline()
        except Exception as exc:  # handed to the reader, which raises it
            error = exc
        # RuntimeError: the loop has closed, the shell is gone, nobody waits for this line.
        with contextlib.suppress(RuntimeError):
            loop.call_soon_threadsafe(settle, line, error)

    threading.Thread(target=read, name="tocsin-shell-stdin", daemon=True).start()
    return await done
