"""The command registry: every command of every root (``/incident``, ``/oncall``) declared
once, with everything derived from it.

A :class:`CommandSpec` names its path, its typed :class:`Arg`\\ s, its usage and help, who
sees its reply, the permission it will need, its handler, its button on the incident card
and its form. The parser (:mod:`bot.commands.parse`), ``help``, the card's buttons, the
forms, Discord's app-command tree, Slack's manifest and the shell all read it from here.
Adding a command is one entry, one handler, its templates and its tests.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal

from bot.ui import ButtonStyle, Reply

if TYPE_CHECKING:
    from bot.commands.call import Call

ArgKind = Literal[
    "text",
    "integer",
    "duration",
    "severity",
    "status",
    "role",
    "person",
    "choice",
    "service",
    "schedule",
    "switch",
]
Handler = Callable[["Call"], Awaitable[Reply]]
_WORD = re.compile(r"^[a-z][a-z0-9-]{0,31}$")


@dataclass(frozen=True)
class Arg:
    """One typed argument.

    ``text`` takes the rest of what was typed (at most one a command, after its other
    positional arguments, save trailing ``person``\\ s that are recognised by their form);
    ``flag`` makes it a ``--flag value`` option instead of a positional one; a ``switch`` is
    a flag alone (``--force``), true when given. ``missing`` is
    said when a required argument is not given, ``invalid`` (with ``{value}``) when a value
    is not one of ``choices``.
    """

    name: str
    kind: ArgKind
    help: str
    required: bool = False
    flag: str | None = None
    choices: tuple[str, ...] = ()
    max_length: int = 3000
    missing: str = ""
    invalid: str = ""
    metavar: str = ""
    label: str = ""
    """Its label in a form (default: its help)."""
    form_required: bool = False
    """Asked for in the form even though a typed command may leave it out."""
    multiline: bool = False
    unquote: bool = False


@dataclass(frozen=True)
class ButtonSpec:
    """The command's button on the incident card, shown while the incident is in one of
    ``when``. ``form``: a click opens the command's form rather than running it."""

    label: str
    when: frozenset[str]
    style: ButtonStyle = "default"
    form: bool = False


@dataclass(frozen=True)
class CommandSpec:
    root: str
    path: tuple[str, ...]
    summary: str
    handler: Handler
    args: tuple[Arg, ...] = ()
    on_incident: bool = False
    """It acts on one incident: named by ``INC-n`` anywhere among its arguments, else the
    incident whose channel it is typed in."""
    public: bool = False
    """Its answer is shown to everyone in the channel; otherwise only to whoever asked."""
    permission: str = "incident.read"
    """The permission it will need (recorded now; enforced by the permissions issue)."""
    aliases: tuple[str, ...] = ()
    button: ButtonSpec | None = None
    form_title: str = ""
    """Its form's title (``{ref}`` is the incident): with one, the command has a form."""
    form_if_empty: bool = False
    """Typed with no arguments at all, it opens its form."""
    submit_label: str = "Submit"
    details: str = ""
    """More help, for ``help <command>``."""

    @property
    def name(self) -> str:
        """``task add``: the words that name it under its root."""
        return " ".join(self.path)

    @property
    def key(self) -> str:
        """The id of its buttons and forms (``ack``, ``task_add``, ``oncall_help``)."""
        words = self.path if self.root == "incident" else (self.root, *self.path)
        return "_".join(w.replace("-", "_") for w in words)

    @property
    def positional(self) -> tuple[Arg, ...]:
        return tuple(a for a in self.args if a.flag is None)

    @property
    def flags(self) -> dict[str, Arg]:
        return {a.flag: a for a in self.args if a.flag is not None}


@dataclass(frozen=True)
class Root:
    """A slash command (``/incident``): what it is for, and what it does with no words."""

    name: str
    description: str
    bare: str = "help"
    """The command run when the root is typed alone (``declare``'s form, or ``help``)."""
    default: str = ""
    """The command that words naming no command are given to (``/oncall primary`` is
    ``/oncall now primary``); none: such words are refused as an unknown command."""


@dataclass
class Registry:
    """Every command, in the order they were added (the order of help and of buttons)."""

    _roots: dict[str, Root] = field(default_factory=dict)
    _commands: list[CommandSpec] = field(default_factory=list)
    _aliases: dict[tuple[str, str], tuple[str, ...]] = field(default_factory=dict)

    def add_root(self, root: Root) -> Root:
        if not _WORD.match(root.name):
            raise ValueError(f"a root is one lowercase word, not {root.name!r}")
        self._roots[root.name] = root
        return root

    def add(self, spec: CommandSpec) -> CommandSpec:
        """Register ``spec``; a mistake in it is a programming error, said at once."""
        if spec.root not in self._roots:
            raise ValueError(f"/{spec.root} is not a root; add_root it first")
        if not spec.path or not all(_WORD.match(w) for w in spec.path) or len(spec.path) > 2:
            raise ValueError(f"a command is one or two lowercase words, not {spec.path!r}")
        if any(s.root == spec.root and s.path == spec.path for s in self._commands):
            raise ValueError(f"/{spec.root} {spec.name} is registered twice")
        if any(s.key == spec.key for s in self._commands):
            raise ValueError(f"two commands would have the key {spec.key!r}")
        texts = [a for a in spec.positional if a.kind == "text"]
        if len(texts) > 1:
            raise ValueError(f"/{spec.root} {spec.name}: one free-text argument at most")
        if texts:
            after = spec.positional[spec.positional.index(texts[0]) + 1 :]
            if any(a.kind != "person" or a.required for a in after):
                raise ValueError(
                    f"/{spec.root} {spec.name}: only optional people may follow free text"
                )
        if any(a.kind == "switch" and a.flag is None for a in spec.args):
            raise ValueError(f"/{spec.root} {spec.name}: a switch is a --flag")
        if len({a.name for a in spec.args} | {"incident"}) != len(spec.args) + 1:
            raise ValueError(f"/{spec.root} {spec.name}: argument names must be unique")
        for alias in spec.aliases:
            self._aliases[(spec.root, alias)] = spec.path
        self._commands.append(spec)
        return spec

    def command(
        self, root: str, path: str, summary: str, **options: object
    ) -> Callable[[Handler], Handler]:
        """Register the decorated handler as ``/<root> <path>``."""

        def register(handler: Handler) -> Handler:
            self.add(
                CommandSpec(root, tuple(path.split()), summary, handler, **options)  # type: ignore[arg-type]
            )
            return handler

        return register

    # reading

    def root(self, name: str) -> Root | None:
        return self._roots.get(name)

    @property
    def roots(self) -> tuple[Root, ...]:
        return tuple(self._roots.values())

    def commands(self, root: str | None = None) -> Iterator[CommandSpec]:
        return (s for s in self._commands if root is None or s.root == root)

    def by_key(self, key: str) -> CommandSpec | None:
        return next((s for s in self._commands if s.key == key), None)

    def get(self, root: str, path: tuple[str, ...]) -> CommandSpec | None:
        return next((s for s in self._commands if s.root == root and s.path == path), None)

    def alias(self, root: str, word: str) -> tuple[str, ...] | None:
        return self._aliases.get((root, word))

    def groups(self, root: str) -> dict[str, list[CommandSpec]]:
        """First word → its commands: ``task`` → [``task add``, ``task done``]."""
        out: dict[str, list[CommandSpec]] = {}
        for spec in self.commands(root):
            out.setdefault(spec.path[0], []).append(spec)
        return out

    def words(self, root: str) -> list[str]:
        """Every first word and alias typed under ``root`` (for 'did you mean')."""
        return [*self.groups(root), *(w for (r, w) in self._aliases if r == root)]
