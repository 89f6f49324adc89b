"""From what was typed (or a platform's typed options, or a form) to an :class:`Invocation`:
which command, which incident, and each argument checked and converted.

Two ways in, one set of rules: :meth:`Parser.parse` reads typed text (Slack, the shell);
:meth:`Parser.build` takes named fields (Discord's options, form submissions). Anything
that does not make sense is a :class:`UserError` that says what was expected.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from bot import names
from bot.commands.registry import Arg, CommandSpec, Registry
from bot.commands.values import (
    INC,
    MAX_DIGITS,
    NUMBER,
    check_text,
    clean,
    reference,
    shown,
    status,
    unquote,
)
from bot.config import TocsinConfig
from bot.durations import parse_duration
from bot.errors import UserError
from bot.lifecycle import WORKING

_TOKEN = re.compile(r"\S+")
_YES = ("yes", "true", "on", "1")
_NO = ("no", "false", "off", "0")
IsMention = Callable[[str], bool]


@dataclass(frozen=True)
class Invocation:
    """A command to run: on ``incident`` (when named), with checked ``values`` by argument
    name (a person as the mention token typed; resolved by the dispatcher). ``form``: show
    the command's form instead."""

    spec: CommandSpec
    incident: int | None = None
    values: dict[str, Any] = field(default_factory=dict)
    form: bool = False


class UnknownCommand(UserError):
    """Not a command; carries the closest one for the help text."""

    def __init__(self, root: str, word: str, suggestion: str | None) -> None:
        self.root, self.word, self.suggestion = root, shown(word), suggestion
        hint = f" Did you mean '{suggestion}'?" if suggestion else ""
        super().__init__(f"'{self.word}' is not a /{root} command.{hint}")


class UnknownRoot(UserError):
    def __init__(self, root: str, known: list[str]) -> None:
        super().__init__(
            f"/{root} is not a Tocsin command; try {' or '.join(f'/{r} help' for r in known)}."
        )


class Parser:
    def __init__(self, registry: Registry, config: TocsinConfig) -> None:
        self.registry = registry
        self._config = config

    # typed text

    def parse(
        self, root: str, text: str, is_mention: IsMention, here: int | None = None
    ) -> Invocation:
        """``here``: the incident whose channel this was typed in. There, an ``INC-n`` that
        could be part of free text (``note same cause as INC-2``) is text, unless it names
        this incident; before the command (``INC-2 note …``) it always names one."""
        self._root(root)
        text = clean(text)
        spans = [(m.group(), m.start(), m.end()) for m in _TOKEN.finditer(text)]
        incident = None
        if spans and INC.match(spans[0][0]):  # /incident INC-7 ack
            if len(spans) == 1:
                ref = shown(spans[0][0].upper())
                raise UserError(
                    f"what about {ref}? Name a command too, e.g. /{root} timeline {ref}; "
                    f"/{root} help lists them."
                )
            incident, spans = spans[0][0], spans[1:]
        if not spans:
            return self._bare(root)
        try:
            spec, used, named = self._find(root, [s[0] for s in spans])
        except UnknownCommand as unknown:
            if incident is not None:
                raise
            return self._default(root, unknown, text, spans, is_mention)
        incident = incident or named
        if incident is not None and not spec.on_incident:
            said = f"'{spec.name}' does not act on one incident."
            raise UserError(f"{said} Usage: {self.usage(spec)}")
        rest = spans[used:]
        if spec.form_if_empty and not rest:
            return Invocation(spec, form=True)
        fields, incident = self._split(spec, text, rest, is_mention, incident, here)
        return self._check(spec, fields, incident, is_mention)

    def _bare(self, root: str) -> Invocation:
        bare = self._roots_bare(root)
        return Invocation(bare, form=bare.form_if_empty)

    def _roots_bare(self, root: str) -> CommandSpec:
        info = self._root(root)
        spec = self.registry.get(root, tuple(info.bare.split()))
        assert spec is not None, f"/{root}'s bare command {info.bare!r} is not registered"
        return spec

    def _default(
        self,
        root: str,
        unknown: UnknownCommand,
        text: str,
        spans: list[tuple[str, int, int]],
        is_mention: IsMention,
    ) -> Invocation:
        """Words that name no command, as the arguments of the root's ``default`` command
        (``/oncall primary``). When they do not fit it either, a word close to a command is
        taken for a mistyped command (help says which); otherwise the default's refusal."""
        info = self._root(root)
        spec = self.registry.get(root, tuple(info.default.split())) if info.default else None
        if spec is None:
            raise unknown
        try:
            fields, _incident = self._split(spec, text, spans, is_mention)
            return self._check(spec, fields, None, is_mention)
        except UserError as refused:
            if unknown.suggestion is not None:
                raise unknown from None
            raise UserError(f"{refused} /{root} help lists the commands.") from None

    def _root(self, root: str) -> Any:
        info = self.registry.root(root)
        if info is None:
            raise UnknownRoot(root, [r.name for r in self.registry.roots])
        return info

    def _find(self, root: str, words: list[str]) -> tuple[CommandSpec, int, str | None]:
        """The command the first word(s) name, how many words that took, and the incident
        named between them (``task INC-7 add``), if one was."""
        first = words[0].lower()
        path = self.registry.alias(root, first)
        if path is not None:
            spec = self.registry.get(root, path)
            assert spec is not None
            return spec, 1, None
        group = self.registry.groups(root).get(first)
        if not group:
            raise UnknownCommand(root, words[0], self.suggest(root, first))
        single = next((s for s in group if len(s.path) == 1), None)
        if single is not None:
            return single, 1, None
        named = None
        if len(words) > 2 and INC.match(words[1]):
            named, words = words[1], [words[0], *words[2:]]
        second = words[1].lower() if len(words) > 1 else ""
        spec = next((s for s in group if s.path[1] == second), None)
        if spec is None:
            usages = " | ".join(self.usage(s) for s in group)
            typed = shown(f"{words[0]} {words[1]}") if second else ""
            got = f"'{typed}' is not a command." if second else f"{shown(first)} what?"
            raise UserError(f"{got} Usage: {usages}")
        return spec, 2 if named is None else 3, named

    def suggest(self, root: str, word: str) -> str | None:
        words = self.registry.words(root)
        matches = difflib.get_close_matches(word.lower(), words, n=1, cutoff=0.5)
        if not matches:
            return None
        path = self.registry.alias(root, matches[0])
        return " ".join(path) if path else matches[0]

    def _split(
        self,
        spec: CommandSpec,
        text: str,
        spans: list[tuple[str, int, int]],
        is_mention: IsMention,
        incident: str | None = None,
        here: int | None = None,
    ) -> tuple[dict[str, str], str | None]:
        """Typed words → raw fields by argument name, and the incident reference if any:
        ``INC-n`` first, last, or anywhere before the free text."""
        fields: dict[str, str] = {}
        spans, cut = self._flags(spec, spans, fields)
        texty = any(a.kind == "text" for a in spec.positional)

        def names(word: str) -> bool:
            found = INC.match(word)
            if not found or not spec.on_incident or incident is not None:
                return False
            return here is None or not texty or int(found.group(1)[: MAX_DIGITS + 1]) == here

        if spans and names(spans[0][0]):
            incident, spans = spans[0][0], spans[1:]
        elif spans and names(spans[-1][0]):
            incident, spans = spans[-1][0], spans[:-1]
        positional = list(spec.positional)
        while positional and spans:
            if names(spans[0][0]):
                incident = spans.pop(0)[0]
                continue
            if positional[0].kind == "text":
                break
            fields[positional.pop(0).name] = spans.pop(0)[0]
        if len(spans) == 1 and incident is None and spec.on_incident and INC.match(spans[0][0]):
            incident, spans = spans[0][0], []  # an INC-n alone is no text: it names one
        if positional and positional[0].kind == "text":
            text_arg, trailing = positional[0], positional[1:]
            for arg in reversed(trailing):
                if len(spans) > 1 and is_mention(spans[-1][0]):
                    fields[arg.name] = spans.pop()[0]
                elif len(spans) == 1 and is_mention(spans[0][0]) and text_arg.required:
                    raise UserError(self.missing(spec, text_arg))  # task add @bob: what task?
            if spans:
                # As typed, spacing kept; words around a flag are joined by one space.
                whole = text[spans[0][1] : spans[-1][2]]
                fields[text_arg.name] = " ".join(w for w, _s, _e in spans) if cut else whole
            spans = []
        if spans:
            for word, _start, _end in spans:
                if word.upper().startswith("INC-"):
                    reference(word)  # INC-² or INC-x: say what an incident reference is
            raise UserError(f"'{spec.name}' takes nothing more. Usage: {self.usage(spec)}")
        return fields, incident

    def _flags(
        self,
        spec: CommandSpec,
        spans: list[tuple[str, int, int]],
        fields: dict[str, str],
    ) -> tuple[list[tuple[str, int, int]], bool]:
        """Take ``--flag value`` (or ``--flag=value``) out of the words: the words left,
        and whether any were taken. A text flag takes every word up to the next flag."""
        flags = spec.flags
        if not flags:
            return spans, False
        rest: list[tuple[str, int, int]] = []
        taken: dict[str, list[str]] = {}
        current: str | None = None
        for word, start, end in spans:
            if word.startswith("--"):
                flag, eq, value = word.partition("=")
                if flag not in flags:
                    raise UserError(
                        f"unknown option {shown(flag)} for {spec.name}; options are "
                        f"{', '.join(flags)}. Usage: {self.usage(spec)}"
                    )
                if flag in taken:
                    raise UserError(f"{flag} is given twice.")
                if flags[flag].kind == "switch":  # --force: nothing follows
                    taken[flag], current = [value if eq else "yes"], None
                    continue
                taken[flag] = [value] if eq and value else []
                current = None if eq and flags[flag].kind != "text" else flag
                continue
            if current is not None:
                taken[current].append(word)
                if flags[current].kind != "text":
                    current = None
                continue
            rest.append((word, start, end))
        for flag, words in taken.items():
            arg = flags[flag]
            if not words:
                need = "a text" if arg.kind == "text" else "a value"
                raise UserError(f"{flag} needs {need} after it. Usage: {self.usage(spec)}")
            fields[arg.name] = " ".join(words)
        return rest, bool(taken)

    # named fields

    def build(
        self, root: str, path: str, fields: Mapping[str, str], is_mention: IsMention
    ) -> Invocation:
        """The invocation of ``/<root> <path>`` with these fields (``incident`` may name the
        incident: ``INC-7`` or ``7``). Empty fields count as not given."""
        self._root(root)
        words = path.split()
        if not words:
            return self._bare(root)
        spec, used, named = self._find(root, words)
        if used != len(words) or named is not None:
            raise UserError(f"'{shown(path)}' is not a command. Usage: {self.usage(spec)}")
        cleaned = {k: clean(v) for k, v in fields.items() if v}
        given = {k: v.strip() for k, v in cleaned.items() if v.strip()}
        if spec.form_if_empty and not given:
            return Invocation(spec, form=True)
        incident = given.pop("incident", None) if spec.on_incident else None
        unknown = set(given) - {a.name for a in spec.args}
        if unknown:
            raise UserError(f"'{spec.name}' takes nothing more. Usage: {self.usage(spec)}")
        return self._check(spec, given, incident, is_mention)

    # checks

    def _check(
        self,
        spec: CommandSpec,
        fields: Mapping[str, str],
        incident: str | None,
        is_mention: IsMention,
    ) -> Invocation:
        values: dict[str, Any] = {}
        for arg in spec.args:
            value = self.value(spec, arg, fields.get(arg.name, ""), is_mention)
            if value is not None:
                values[arg.name] = value
        return Invocation(spec, incident=reference(incident), values=values)

    def value(self, spec: CommandSpec, arg: Arg, raw: str, is_mention: IsMention) -> Any:
        """One argument's value from what was given for it, checked (``None``: empty, and it
        is optional). A form asked one field at a time checks each answer with this too."""
        raw = unquote(raw) if arg.unquote else raw.strip()
        if not raw:
            if arg.required:
                raise UserError(self.missing(spec, arg))
            return None
        return self.convert(spec, arg, raw, is_mention)

    def missing(self, spec: CommandSpec, arg: Arg) -> str:
        said = arg.missing or f"'{spec.name}' needs {_article(arg.name)}."
        return f"{said} Usage: {self.usage(spec)}"

    def convert(self, spec: CommandSpec, arg: Arg, raw: str, is_mention: IsMention) -> Any:
        """One argument's value, checked: a :class:`UserError` says what is wrong."""
        match arg.kind:
            case "text":
                return check_text(raw, arg.max_length, arg.name, multiline=arg.multiline)
            case "integer":
                if not NUMBER.match(raw):
                    raise UserError(f"'{shown(raw)}' is not a number. Usage: {self.usage(spec)}")
                if len(raw.lstrip("0")) > MAX_DIGITS or int(raw) < 1:
                    said = arg.invalid or "there is no {name} {value}."
                    raise UserError(said.format(name=arg.name, value=shown(raw)))
                return int(raw)
            case "duration":
                return self.duration(raw)
            case "severity":
                return self.severity(raw)
            case "status":
                return status(raw)
            case "role":
                return self.role(raw)
            case "person":
                if not is_mention(raw):
                    name = shown(raw).lstrip("@")
                    said = f"'{shown(raw)}' is not a person; mention them, like @{name}."
                    raise UserError(f"{said} Usage: {self.usage(spec)}")
                return raw
            case "service":
                return self.service(raw)
            case "schedule":
                return names.schedule(raw, self._config.schedules)
            case "switch":
                value = raw.lower()
                if value not in _YES + _NO:
                    raise UserError(f"{arg.flag} is on or off: write it alone, like {arg.flag}.")
                return value in _YES
            case "choice":
                value = raw.lower()
                if value not in arg.choices:
                    said = arg.invalid or "'{value}' is not one of: {choices}."
                    choices = ", ".join(arg.choices)
                    raise UserError(said.format(value=shown(raw), choices=choices))
                return value
        raise AssertionError(arg.kind)

    @staticmethod
    def duration(raw: str) -> timedelta:
        try:
            return parse_duration(raw)
        except ValueError as exc:
            raise UserError(str(exc).replace(repr(raw), repr(shown(raw)), 1)) from None

    def severity(self, word: str) -> int:
        """``2``, ``sev2``, ``SEV2`` or a label (``major``, or one starting with "sev") → 2."""
        typed = word.strip().lower()
        value = typed[3:] if typed.startswith("sev") else typed
        if NUMBER.match(value) and len(value) <= MAX_DIGITS and int(value) in self._config.levels:
            return int(value)
        for key, sev in self._config.severities.items():
            if sev.label.lower() == typed:
                return int(key[3:])
        levels = self._config.levels
        names = ", ".join(f"{k} {s.label}" for k, s in self._config.severities.items())
        raise UserError(
            f"'{shown(word)}' is not a severity: use {levels.start}-{levels.stop - 1} ({names})."
        )

    def role(self, word: str) -> str:
        return names.configured(word, self._config.roles, "role")

    def service(self, word: str) -> str:
        services = self._config.services
        return names.configured(word, services, "service") if services else word

    # usage

    def usage(self, spec: CommandSpec) -> str:
        parts = [f"/{spec.root} {spec.name}"]
        for arg in spec.positional:
            shown = self.metavar(arg)
            if arg.kind == "text":
                shown += "…"
            parts.append(f"<{shown}>" if arg.required else f"[{shown}]")
        parts += [
            f"[{arg.flag}]" if arg.kind == "switch" else f"[{arg.flag} {self.metavar(arg)}]"
            for arg in spec.flags.values()
        ]
        return " ".join(parts)

    def metavar(self, arg: Arg) -> str:
        if arg.metavar:
            return arg.metavar
        levels = self._config.levels
        return {
            "severity": f"{levels.start}-{levels.stop - 1}",
            "status": "|".join(s.value for s in WORKING),
            "person": f"@{arg.name}",
            "integer": "n",
            "service": "NAME",
            "choice": "|".join(arg.choices),
        }.get(arg.kind, arg.name.upper() if arg.flag else arg.name)


def _article(name: str) -> str:
    return f"an {name}" if name[0] in "aeiou" else f"a {name}"
