"""The shell's read–eval–print loop.

``/…`` is a slash command typed by the current user in the current channel; ``#name``
alone on a line switches channel, ``@name`` alone switches who is typing, a number alone
clicks that button of the card shown last; any other line is chat. ``quit``, Ctrl-D or the
end of input ends (exit code 0); Ctrl-C ends at once (exit code 130, as for any program
interrupted). Lines come from a terminal (see :mod:`adapters.console.lines`) or, just the
same, from a pipe, so scripts and tests can drive it.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime

from adapters.console.lines import Lines
from adapters.console.platform import ConsolePlatform, valid_channel, valid_person
from bot import names
from bot.commands.values import shown
from bot.dispatcher import Dispatcher
from bot.inbound import Action, ChannelEvent, Command
from bot.platform import ChannelRef, UserRef
from bot.ui import Form, FormField, Reply

SHELL_HELP = """\
Tocsin shell · lines starting with / are slash commands (try {roots})
  #name     switch to channel #name        @name   type as @name
  1, 2, …   click that button of the card shown last
  any text  chat; in an incident's channel it goes on the timeline (so does "@bob look")
  quit      leave, or Ctrl-D (everything is saved; the next tocsin shell carries on)"""
REPLY_TO = "console"
INTERRUPTED = 130
"""The exit code after Ctrl-C, as for any program a terminal interrupts (128 + SIGINT)."""
_BUTTON = re.compile(r"[0-9]+")
PIPED_COMMAND = "(cancelled: a command came where an answer was due; it runs next)"
PIPED_CANCEL = "(cancelled: a piped answer is not asked again; the next lines are commands)"


class Shell:
    def __init__(
        self,
        dispatcher: Dispatcher,
        platform: ConsolePlatform,
        lines: Lines,
        *,
        user: str,
        channel: str,
        interactive: bool,
        settle: Callable[[], Awaitable[None]],
    ) -> None:
        self._dispatcher = dispatcher
        self._settle = settle
        self._help = SHELL_HELP.format(
            roots=" or ".join(f"/{r.name} help" for r in dispatcher.parser.registry.roots)
        )
        self._platform = platform
        self._lines = lines
        self._interactive = interactive
        self._next: str | None = None
        """A line a piped form read that is a command: the next to run."""
        self.user = user
        self.channel = ChannelRef(channel, channel)

    async def run(self) -> int:
        """Read and act on lines until ``quit`` or the end of input (0) or Ctrl-C (130)."""
        if self._interactive:
            self._platform.say(self._help)
        try:
            while True:
                line, self._next = self._next, None
                if line is None:
                    line = await self._lines.read(f"@{self.user} #{self.channel.name}> ")
                going_on = await self.handle(line.strip())
                await self._settle()  # what the line set going is shown before the next prompt
                if not going_on:
                    return 0
        except EOFError:
            return 0
        except KeyboardInterrupt:
            return INTERRUPTED

    def _is_command(self, line: str) -> bool:
        """Whether ``line`` is a slash command of one of Tocsin's roots (``/incident …``)."""
        word = line.strip().partition(" ")[0]
        return word.startswith("/") and self._dispatcher.parser.registry.root(word[1:]) is not None

    async def handle(self, line: str) -> bool:
        """Act on one line; ``False`` means leave. ``#name``, ``@name`` and a number are the
        shell's own only alone on their line: ``@bob can you look?`` is chat."""
        say = self._platform.say
        if not line or line.startswith("//"):
            return True
        if line in ("quit", "exit", "/quit", "/exit"):
            return False
        alone = len(line.split()) == 1
        if line.startswith("#") and alone:
            await self._switch_channel(line)
        elif line.startswith("@") and alone:
            name = valid_person(line)
            if name is None:
                say(f"⚠️ {names.person_problem(line[1:].strip())}.")
            else:
                self.user = name
                say(f"(you are now @{name})")
        elif _BUTTON.fullmatch(line):
            await self._click(line)
        elif line.startswith("/"):
            root, _, text = line[1:].partition(" ")
            who = UserRef(self.user, self.user)
            reply = await self._dispatcher.command(
                Command("console", who, self.channel, text, root, reply_to=REPLY_TO)
            )
            await self._show(reply)
        elif line in ("help", "?"):
            say(self._help)
        else:
            await self._chat(line)
        return True

    async def _chat(self, line: str) -> None:
        """A plain line is a chat message: in an incident's channel, it goes on the timeline."""
        event = ChannelEvent(
            "console",
            self.channel.id,
            "message",
            uuid.uuid4().hex,
            UserRef(self.user, self.user),
            datetime.now(UTC),
            line,
        )
        if not await self._dispatcher.channel_event(event):
            self._platform.say(
                f"(#{self.channel.name} is not an incident channel: chat here is not recorded; "
                "type help for the shell's commands)"
            )

    async def _switch_channel(self, line: str) -> None:
        name = valid_channel(line)
        if name is None:
            self._platform.say(f"⚠️ {names.channel_problem(line[1:].strip())}.")
            return
        self.channel = await self._platform.find_channel(name)
        self._platform.say(f"(now in #{name})")
        card = await self._dispatcher.card_for_channel("console", self.channel.id)
        if card is not None:
            self._platform.show_card(self.channel.id, card, "pinned card")

    async def _click(self, number: str) -> None:
        button = self._platform.buttons.get(int(number)) if len(number) < 10 else None
        if button is None:
            self._platform.say(f"⚠️ there is no button {shown(number)} on the card shown last")
            return
        reply = await self._dispatcher.action(
            Action(
                "console",
                UserRef(self.user, self.user),
                self.channel,
                button.action,
                button.incident_id,
                reply_to=REPLY_TO,
            )
        )
        await self._show(reply)

    async def _show(self, reply: Reply) -> None:
        if reply.interim:
            return  # the terminal cannot replace a line: the final answer comes when ready
        if reply.text:
            prefix = "(only you) " if reply.ephemeral else ""
            self._platform.say(f"→ {prefix}{reply.text}")
        if reply.form is not None:
            await self._fill(reply.form)

    async def _fill(self, form: Form) -> None:
        """A form as prompts, one per field, each answer checked as it is given. In a
        terminal a bad one is asked again, the answers before it kept; from a pipe it
        cancels the form, so the script's next lines are read as commands, not as more
        answers. An empty required answer cancels."""
        self._platform.say(f"── {form.title} (an empty answer to a required field cancels)")
        values: dict[str, str] = {}
        for field in form.fields:
            try:
                answer = await self._ask(form, field)
            except EOFError:
                self._platform.say("(cancelled)")
                raise
            if answer is None:
                return
            values[field.name] = answer
        reply = await self._dispatcher.action(
            Action(
                "console",
                UserRef(self.user, self.user),
                self.channel,
                form.action,
                form.incident_id,
                values,
                reply_to=REPLY_TO,
            )
        )
        await self._show(reply)

    async def _ask(self, form: Form, field: FormField) -> str | None:
        """One field's answer, asked until it is a good one in a terminal, once from a pipe
        (``None``: cancel the form)."""
        choices = ""
        if field.choices:
            shown = (
                c.value if c.label == c.value else f"{c.value}: {c.label}" for c in field.choices
            )
            choices = " [" + " | ".join(shown) + "]"
        default = f" (default {field.initial})" if field.initial else ""
        optional = " (optional)" if not field.required and not field.initial else ""
        label = f"{field.label}{choices}{default}{optional}: "
        typed = ""
        while True:
            answer = await self._lines.read(label, again=typed, command=False)
            if not self._interactive and self._is_command(answer):
                # A script's next command where an answer was due: not an answer.
                self._platform.say(PIPED_COMMAND)
                self._next = answer
                return None
            answer = answer.strip() or field.initial
            if not answer:
                if field.required:
                    self._platform.say("(cancelled)")
                    return None
                return ""
            problem = self._dispatcher.check_answer("console", form, field.name, answer)
            if problem is None:
                return answer
            self._platform.say(problem)
            if not self._interactive:
                # Nobody is there to correct it: the lines after it are the script's next
                # commands, not more tries at this answer.
                self._platform.say(PIPED_CANCEL)
                return None
            typed = answer  # in a terminal, offered again to be corrected
