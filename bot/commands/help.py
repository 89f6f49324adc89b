"""``help`` under every root: the list of a root's commands, one command's usage and
arguments, or a group's commands; all drawn from the registry (``templates/help.j2``)."""

from __future__ import annotations

from bot.commands.call import Call
from bot.commands.registry import Arg, CommandSpec
from bot.commands.values import shown
from bot.ui import Reply


def help_spec(root: str, summary: str, permission: str) -> CommandSpec:
    """``/<root> help [command…]``, the same under every root."""
    return CommandSpec(
        root,
        ("help",),
        summary,
        help_,
        args=(Arg("command", "text", "a command, for more on it", max_length=100),),
        permission=permission,
    )


async def help_(call: Call) -> Reply:
    return help_reply(call, call.spec.root, call.values.get("command"))


def help_reply(
    call: Call,
    root: str,
    about: str | None = None,
    unknown: str | None = None,
    suggestion: str | None = None,
) -> Reply:
    """``/<root> help`` (every command), or help on one command; ``unknown``: what was
    typed that is not a command (with the closest one)."""
    parser = call.services.parser
    registry = parser.registry
    info = registry.root(root)
    title = f"Tocsin: {info.description.lower() if info else root}"
    specs = list(registry.commands(root))
    if about:
        words = about.split()
        first = words[0].lower()
        spec = registry.get(root, tuple(w.lower() for w in words[:2])) or registry.get(
            root, (first,)
        )
        alias = registry.alias(root, first)
        spec = spec or (registry.get(root, alias) if alias else None)
        group = registry.groups(root).get(first, [])
        if spec is not None:
            required = [
                f"<{parser.metavar(a)}{'…' if a.kind == 'text' else ''}>"
                for a in spec.positional
                if a.required
            ]
            example = " ".join([f"/{root}", spec.name, "INC-7", *required])
            command = {"usage": parser.usage(spec), "spec": spec, "args": spec.args}
            text = call.render("help", root=root, command=command, example=example, unknown=None)
            return Reply(text, ephemeral=True)
        if group:  # /incident help task: task add, task done
            specs, title = group, f"/{root} {first}"
        else:
            unknown, suggestion = shown(about), parser.suggest(root, words[0])
    lines = [{"usage": parser.usage(s), "spec": s} for s in specs]
    text = call.render(
        "help",
        root=root,
        command=None,
        commands=lines,
        title=title,
        unknown=unknown,
        suggestion=suggestion,
    )
    return Reply(text, ephemeral=True, ok=unknown is None)
