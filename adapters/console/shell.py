"""The shell's read–eval–print loop.

``/…`` is a slash command typed by the current user in the current channel; ``#name``
switches channel, ``@name`` switches who is typing; a number clicks that button of the card
shown last; ``quit`` or end of input ends. Commands come from a terminal or, just the same,
from a pipe, so scripts and tests can drive it.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import TextIO

from adapters.console.platform import ConsolePlatform, valid_channel, valid_person
from bot import names
from bot.dispatcher import Dispatcher
from bot.inbound import Action, ChannelEvent, Command
from bot.platform import ChannelRef, UserRef
from bot.ui import Form, FormField, Reply

SHELL_HELP = """\
Tocsin shell · lines starting with / are slash commands (try {roots})
  #name     switch to channel #name        @name   type as @name
  1, 2, …   click that button of the card shown last
  any text  chat; in an incident's channel it goes on the timeline
  quit      leave (everything is saved; the next tocsin shell carries on)"""
REPLY_TO = "console"


class Shell:
    def __init__(
        self,
        dispatcher: Dispatcher,
        platform: ConsolePlatform,
        stdin: TextIO,
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
        self._stdin = stdin
        self._interactive = interactive
        self.user = user
        self.channel = ChannelRef(channel, channel)

    async def _line(self, prompt: str) -> str | None:
        if self._interactive:
            self._platform.write(prompt)
        line = await asyncio.to_thread(self._stdin.readline)
        return None if line == "" else line.rstrip("\r\n")

    async def run(self) -> None:
        if self._interactive:
            self._platform.say(self._help)
        while True:
            line = await self._line(f"@{self.user} #{self.channel.name}> ")
            if line is None:
                break
            going_on = await self.handle(line.strip())
            await self._settle()  # what the line set going is shown before the next prompt
            if not going_on:
                break

    async def handle(self, line: str) -> bool:
        """Act on one line; ``False`` means leave."""
        say = self._platform.say
        if not line or line.startswith("//"):
            return True
        if line in ("quit", "exit", "/quit", "/exit"):
            return False
        if line.startswith("#"):
            await self._switch_channel(line)
        elif line.startswith("@"):
            name = valid_person(line)
            if name is None:
                say(f"⚠️ {names.person_problem(line[1:].strip())}.")
            else:
                self.user = name
                say(f"(you are now @{name})")
        elif line.isdigit():
            await self._click(int(line))
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

    async def _click(self, number: int) -> None:
        button = self._platform.buttons.get(number)
        if button is None:
            self._platform.say(f"⚠️ there is no button {number} on the card shown last")
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
        """A form as prompts, one per field. An empty required answer cancels it."""
        self._platform.say(f"── {form.title} (an empty answer to a required field cancels)")
        values: dict[str, str] = {}
        for field in form.fields:
            answer = await self._ask(field)
            if answer is None:
                self._platform.say("(cancelled)")
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

    async def _ask(self, field: FormField) -> str | None:
        choices = ""
        if field.choices:
            shown = (
                c.value if c.label == c.value else f"{c.value}: {c.label}" for c in field.choices
            )
            choices = " [" + " | ".join(shown) + "]"
        default = f" (default {field.initial})" if field.initial else ""
        optional = " (optional)" if not field.required else ""
        label = f"{field.label}{choices}{default}{optional}: "
        if not self._interactive:
            self._platform.say(label)
        answer = await self._line(label)
        if answer is None:
            return None
        answer = answer.strip() or field.initial
        if not answer and field.required:
            return None
        return answer
