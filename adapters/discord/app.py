"""The Discord bot: discord.py's gateway client, ``/incident`` app commands, persistent card
buttons, modals and channel events → the core's dispatcher.

Every interaction is answered within Discord's 3 seconds: the work starts at once, and if
it is not done within :attr:`DiscordAdapter.answer_within` the interaction is deferred
(the person sees "thinking…") and the answer follows when it is ready.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import OrderedDict
from collections.abc import Awaitable, Sequence
from typing import Any

import discord
from discord import app_commands

from adapters.discord import translate
from adapters.discord.client import MESSAGE_CONTENT_OFF, TOKEN_REFUSED
from adapters.discord.commands import groups
from adapters.discord.dialect import ALLOWED_MENTIONS
from adapters.discord.platform import DiscordPlatform, chunks
from adapters.discord.ui import CARD_BUTTON, FORM_PREFIX, CardButton, FormModal
from bot.background import Background
from bot.commands.registry import Registry
from bot.commands.values import clean
from bot.config import TocsinConfig
from bot.dispatcher import Dispatcher
from bot.errors import ConfigError, PlatformError
from bot.inbound import Action, ChannelEvent, Command
from bot.platform import ChannelRef, UserRef
from bot.ui import Reply

log = logging.getLogger(__name__)
MAX_OPEN_FORMS = 500
TOO_SLOW_FOR_A_FORM = "That form took too long to open; please try again."


class DiscordAdapter:
    def __init__(
        self,
        dispatcher: Dispatcher,
        platform: DiscordPlatform,
        config: TocsinConfig,
        registry: Registry,
        *,
        guild_ids: Sequence[int] = (),
        answer_within: float = 2.0,
    ) -> None:
        self._dispatcher = dispatcher
        self.platform = platform
        self.client = platform.client
        self.answer_within = answer_within
        self._guild_ids = tuple(guild_ids)
        self._background = Background("Discord")
        self._open_forms: OrderedDict[str, FormModal] = OrderedDict()
        self._runner: asyncio.Task[None] | None = None
        self.tree: app_commands.CommandTree[discord.Client] = app_commands.CommandTree(self.client)
        for group in groups(registry, config, self._on_command, dispatcher.open_incidents):
            self.tree.add_command(group)
        self.tree.error(self._on_tree_error)
        self.client.add_dynamic_items(CardButton)
        for handler in (
            self.on_tocsin_click,
            self.on_tocsin_submit,
            self.on_interaction,
            self.on_message,
            self.on_raw_message_edit,
            self.on_raw_message_delete,
            self.on_raw_bulk_message_delete,
            self.on_raw_reaction_add,
        ):
            self.client.event(handler)

    # Running.

    async def start(self, token: str, *, ready_within: float = 60.0) -> None:
        """Log in, sync the commands, connect to the gateway; return once ready."""
        try:
            await self.client.login(token)
        except discord.LoginFailure as exc:
            raise ConfigError(TOKEN_REFUSED) from exc
        await self.sync_commands()
        self._runner = asyncio.create_task(self.client.connect(reconnect=True))
        ready = asyncio.create_task(self.client.wait_until_ready())
        done, _ = await asyncio.wait(
            {self._runner, ready}, timeout=ready_within, return_when=asyncio.FIRST_COMPLETED
        )
        if ready not in done:
            ready.cancel()
            if self._runner in done:
                await self._gateway_failed(self._runner)
            raise PlatformError(f"Discord's gateway was not ready within {ready_within:.0f} s")
        if not self.message_content:
            log.warning("Discord: %s", MESSAGE_CONTENT_OFF)
        log.info(
            "Discord: connected as %s to %d server(s)", self.client.user, len(self.client.guilds)
        )

    async def _gateway_failed(self, runner: asyncio.Task[None]) -> None:
        try:
            await runner
        except discord.PrivilegedIntentsRequired as exc:
            raise ConfigError(
                "Discord refused the Message Content intent: turn it on under Bot → "
                "Privileged Gateway Intents in the developer portal"
            ) from exc
        except (discord.ConnectionClosed, discord.GatewayNotFound, OSError) as exc:
            raise PlatformError(f"Discord's gateway closed the connection: {exc}") from exc

    @property
    def message_content(self) -> bool:
        """Whether the client asked for the Message Content intent (the application has it)."""
        return self.client.intents.message_content

    @property
    def stopped(self) -> asyncio.Task[None] | None:
        """The gateway connection's task: it ends only when the bot stops or fails."""
        return self._runner

    async def sync_commands(self) -> None:
        """Register the slash commands: in each of ``DISCORD_GUILD_IDS`` (at once), else
        globally (Discord may take a while to show global commands)."""
        names = ", ".join(f"/{c.name}" for c in self.tree.get_commands())
        try:
            if not self._guild_ids:
                await self.tree.sync()
                log.info("Discord: %s synced globally", names)
            for guild_id in self._guild_ids:
                guild = discord.Object(id=guild_id)
                self.tree.copy_global_to(guild=guild)
                await self.tree.sync(guild=guild)
                log.info("Discord: %s synced to server %s", names, guild_id)
        except discord.Forbidden as exc:
            raise ConfigError(
                "Discord refused to register the slash commands: is the bot in every server of "
                "DISCORD_GUILD_IDS, invited with the applications.commands scope? "
                "(`tocsin discord-invite` prints the link)"
            ) from exc
        except discord.HTTPException as exc:
            raise PlatformError(f"Discord refused the command sync: {exc}") from exc

    async def close(self) -> None:
        await self.client.close()
        if self._runner is not None:
            await asyncio.gather(self._runner, return_exceptions=True)
        await self.drain()

    async def drain(self) -> None:
        """Wait for the work still running (on shutdown, and in tests)."""
        await self._background.drain()

    # Interactions.

    async def _on_command(
        self, interaction: discord.Interaction[Any], root: str, path: str, options: dict[str, str]
    ) -> None:
        command = Command(
            *self._origin(interaction),
            path,
            root=root,
            options=options,
            reply_to=_address(interaction),
        )
        self._ask(interaction, self._dispatcher.command(command), "command")

    async def on_tocsin_click(
        self, interaction: discord.Interaction[Any], action: str, incident: int
    ) -> None:
        click = Action(*self._origin(interaction), action, incident, reply_to=_address(interaction))
        self._ask(interaction, self._dispatcher.action(click), "button")

    async def on_tocsin_submit(
        self, interaction: discord.Interaction[Any], modal: FormModal
    ) -> None:
        form = modal.form
        submitted = Action(
            *self._origin(interaction),
            form.action,
            form.incident_id,
            modal.values(),
            reply_to=_address(interaction),
            submitted=True,
        )
        self._ask(interaction, self._dispatcher.action(submitted), "form")

    async def on_interaction(self, interaction: discord.Interaction[Any]) -> None:
        """Every interaction, after discord.py routed it. What nothing else will answer is
        answered here, so that Discord never shows "This interaction failed": a button
        whose ``custom_id`` is not a card button's (an old card, a removed action), a form
        opened before a restart, a form Tocsin never opened."""
        data: dict[str, Any] = dict(interaction.data or {})
        custom_id = str(data.get("custom_id", ""))
        if interaction.type == discord.InteractionType.component:
            if not CARD_BUTTON.fullmatch(custom_id):
                self._stale(interaction, "button")
        elif interaction.type == discord.InteractionType.modal_submit:
            if not custom_id.startswith(FORM_PREFIX):
                self._stale(interaction, "form")
            elif self._open_forms.pop(custom_id, None) is None:
                self._stale(interaction, "form")  # from before a restart, or pushed out

    async def _on_tree_error(
        self, interaction: discord.Interaction[Any], error: app_commands.AppCommandError
    ) -> None:
        """A slash command discord.py could not run: every one is answered, privately, so
        that Discord never shows "This interaction failed". One Tocsin no longer has
        (Discord still shows an older set of commands) is told so; a value that could not
        be read is named with its option; any other failure is a bug: logged with an
        error id, which the answer quotes."""
        if interaction.type == discord.InteractionType.autocomplete:
            if not isinstance(error, _STALE_COMMAND):
                log.error("Discord: an autocomplete failed", exc_info=error)
            with contextlib.suppress(discord.HTTPException, discord.InteractionResponded):
                await interaction.response.autocomplete([])
            return
        reply = self._command_error(interaction, error)
        if not interaction.response.is_done():
            self._ask(interaction, _done(reply), "command")
            return
        try:  # the command answered, then failed: a private follow-up
            await interaction.followup.send(
                reply.text, ephemeral=True, allowed_mentions=ALLOWED_MENTIONS
            )
        except discord.HTTPException as exc:
            log.warning("Discord: could not answer an interaction: %s", exc)

    def _command_error(
        self, interaction: discord.Interaction[Any], error: app_commands.AppCommandError
    ) -> Reply:
        platform = translate.PLATFORM
        if isinstance(error, _STALE_COMMAND):
            return self._dispatcher.no_longer_valid(platform, "command")
        if isinstance(error, app_commands.TransformerError):
            shown = clean(str(getattr(error.value, "name", None) or error.value))
            shown = shown if len(shown) <= 40 else shown[:39] + "…"
            option = _option_of(interaction, error.value)
            message = f"'{shown}' is not a valid value for {option}."
            return Reply(self._dispatcher.refusal(platform, message), ok=False)
        if isinstance(error, app_commands.CheckFailure):
            # discord.py's own checks (permissions, cooldown, DMs) say what is missing.
            own = type(error) is not app_commands.CheckFailure and str(error)
            message = own or "you cannot run this command here."
            return Reply(self._dispatcher.refusal(platform, message), ok=False)
        return self._dispatcher.failed(platform, error, "command")

    def _stale(self, interaction: discord.Interaction[Any], what: str) -> None:
        reply = self._dispatcher.no_longer_valid(translate.PLATFORM, what)
        self._ask(interaction, _done(reply), what)

    def _origin(self, interaction: discord.Interaction[Any]) -> tuple[str, UserRef, ChannelRef]:
        """(platform, who, where) of an interaction: how every Command and Action begins."""
        return translate.PLATFORM, translate.who(interaction.user), self._channel_of(interaction)

    def _ask(
        self, interaction: discord.Interaction[Any], work: Awaitable[Reply], what: str
    ) -> None:
        self._background.spawn(self._answer(interaction, work), what)

    def _channel_of(self, interaction: discord.Interaction[Any]) -> ChannelRef:
        channel = interaction.channel
        name = getattr(channel, "name", None) or str(interaction.channel_id or "")
        return ChannelRef(str(interaction.channel_id or ""), name)

    async def _answer(self, interaction: discord.Interaction[Any], work: Awaitable[Reply]) -> None:
        """Answer with the reply if it is ready in time; else defer, then follow up."""
        task = asyncio.ensure_future(work)
        done, _ = await asyncio.wait({task}, timeout=self.answer_within)
        try:
            if done:
                await self._respond(interaction, task.result())
                return
            await interaction.response.defer(ephemeral=True, thinking=True)
            await self._follow_up(interaction, await task)
        except discord.HTTPException as exc:
            # 10062: the interaction expired; 40060: already answered. Nothing to tell.
            log.warning("Discord: could not answer an interaction: %s", exc)
        finally:
            if not task.done():
                await asyncio.gather(task, return_exceptions=True)

    async def _respond(self, interaction: discord.Interaction[Any], reply: Reply) -> None:
        response = interaction.response
        if reply.form is not None:
            modal = FormModal(reply.form)
            self._remember(modal)
            await response.send_modal(modal)
            return
        if not reply.text:
            if interaction.type == discord.InteractionType.component:
                await response.defer()  # a silent acknowledgement of the click
            else:
                await response.send_message("Done.", ephemeral=True)
            return
        first, *rest = chunks(reply.text)
        await response.send_message(
            first, ephemeral=reply.ephemeral, allowed_mentions=ALLOWED_MENTIONS
        )
        for piece in rest:
            await interaction.followup.send(
                piece, ephemeral=reply.ephemeral, allowed_mentions=ALLOWED_MENTIONS
            )

    async def _follow_up(self, interaction: discord.Interaction[Any], reply: Reply) -> None:
        """After a deferral, whose "thinking…" message only the person sees."""
        text = TOO_SLOW_FOR_A_FORM if reply.form is not None else reply.text or "Done."
        if not reply.ephemeral and reply.form is None and not reply.interim:
            # A public answer: post it in the channel, then take the "thinking…" away.
            try:
                await self.platform.post_message(self._channel_of(interaction), text)
                await interaction.delete_original_response()
                return
            except PlatformError as exc:
                log.info("Discord: answering privately instead: %s", exc)
        first, *rest = chunks(text)
        await interaction.edit_original_response(content=first, allowed_mentions=ALLOWED_MENTIONS)
        for piece in rest:
            await interaction.followup.send(
                piece, ephemeral=True, allowed_mentions=ALLOWED_MENTIONS
            )

    def _remember(self, modal: FormModal) -> None:
        self._open_forms[modal.custom_id] = modal
        while len(self._open_forms) > MAX_OPEN_FORMS:
            _, oldest = self._open_forms.popitem(last=False)
            oldest.stop()

    # Channel capture. The gateway never sends an event again: each handler hands its event
    # to the dispatcher's held events without waiting for the database (which stores them
    # in the order handed in, holding them while the database does not answer). No handler
    # awaits anything, so they hand events in the order Discord sent them (an edit never
    # overtakes its message), and none waits while the database hangs.

    def _capture(self, event: ChannelEvent | None) -> None:
        if event is not None:
            self._dispatcher.held_events.put(event)

    async def on_message(self, message: discord.Message) -> None:
        self._capture(translate.message(message))

    async def on_raw_message_edit(self, payload: discord.RawMessageUpdateEvent) -> None:
        self._capture(translate.edit(payload))

    async def on_raw_message_delete(self, payload: discord.RawMessageDeleteEvent) -> None:
        self._capture(translate.deletion(payload.channel_id, payload.message_id))

    async def on_raw_bulk_message_delete(self, payload: discord.RawBulkMessageDeleteEvent) -> None:
        for message_id in sorted(payload.message_ids):
            self._capture(translate.deletion(payload.channel_id, message_id))

    async def on_raw_reaction_add(self, payload: discord.RawReactionActionEvent) -> None:
        bot_id = self.client.user.id if self.client.user is not None else None
        self._capture(translate.pin_reaction(payload, bot_id))


_STALE_COMMAND = (app_commands.CommandNotFound, app_commands.CommandSignatureMismatch)


def _option_of(interaction: discord.Interaction[Any], value: Any) -> str:
    """The option of ``interaction``'s command that was given ``value``, in words."""
    command = interaction.command
    if isinstance(command, app_commands.Command):
        for parameter in command.parameters:
            if getattr(interaction.namespace, parameter.display_name, None) is value:
                return f"the option '{parameter.display_name}'"
    return "one of its options"


async def _done(reply: Reply) -> Reply:
    return reply


def _address(interaction: discord.Interaction[Any]) -> str:
    """How the worker reaches the person later: the interaction's webhook (15 minutes)."""
    return f"{interaction.application_id}:{interaction.token}"
