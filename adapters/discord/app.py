"""The Discord bot: discord.py's gateway client, ``/incident`` app commands, persistent card
buttons, modals and channel events → the core's dispatcher.

Every interaction is answered within Discord's 3 seconds: the work starts at once, and if
it is not done within :attr:`DiscordAdapter.answer_within` the interaction is deferred
(the person sees "thinking…") and the answer follows when it is ready.
"""

from __future__ import annotations

import asyncio
import logging
from collections import OrderedDict
from collections.abc import Awaitable, Coroutine, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import discord
import yarl
from discord import app_commands
from discord.gateway import DiscordWebSocket
from discord.http import Route

from adapters.discord.commands import incident_group
from adapters.discord.dialect import ALLOWED_MENTIONS
from adapters.discord.platform import DiscordPlatform, chunks
from adapters.discord.ui import FORM_PREFIX, CardButton, FormModal
from bot.config import TocsinConfig
from bot.dispatcher import Dispatcher
from bot.errors import ConfigError, PlatformError
from bot.inbound import Action, ChannelEvent, Command
from bot.platform import ChannelRef, UserRef
from bot.settings import Settings
from bot.ui import Reply

log = logging.getLogger(__name__)
PLATFORM = "discord"
DISCORD_API = Route.BASE
DISCORD_GATEWAY = str(DiscordWebSocket.DEFAULT_GATEWAY)
PIN = "📌"
MAX_OPEN_FORMS = 500
TOO_SLOW_FOR_A_FORM = "That form took too long to open; please try again."
STALE_FORM = (
    "That form was opened before Tocsin restarted, so its answers could not be read. "
    "Please open it again."
)
MESSAGE_CONTENT_OFF = (
    "the Message Content intent is off for this bot, so ordinary messages in incident "
    "channels are not captured on the timeline (pins, 📌 reactions and deletions still are). "
    "Turn it on under Bot → Privileged Gateway Intents in the Discord developer portal and "
    "restart Tocsin."
)


@dataclass(frozen=True)
class BotInfo:
    """Who a token belongs to, as Discord says at login."""

    user: str
    application_id: int
    message_content: bool


def point_at(settings: Settings) -> None:
    """Send discord.py's REST calls and gateway connection where the settings say (a proxy,
    or a test's fake). discord.py reads both from class attributes: one Discord per process."""
    # Tocsin has no voice: discord.py's start-up warnings about voice libraries are noise.
    discord.VoiceClient.warn_nacl = discord.VoiceClient.warn_dave = False
    Route.BASE = settings.discord_api_url or DISCORD_API
    DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(settings.discord_gateway_url or DISCORD_GATEWAY)


def intents(message_content: bool) -> discord.Intents:
    """Only what Tocsin uses: servers and channels, messages and reactions in them, and the
    privileged message content when the application has it."""
    wanted = discord.Intents.none()
    wanted.guilds = True
    wanted.guild_messages = True
    wanted.guild_reactions = True
    wanted.message_content = message_content
    return wanted


def make_client(
    settings: Settings, *, message_content: bool, guild_ready_timeout: float = 2.0
) -> discord.Client:
    """A client with the intents Tocsin needs; sharded when ``DISCORD_SHARD_COUNT`` is set."""
    point_at(settings)
    options: dict[str, Any] = {
        "guild_ready_timeout": guild_ready_timeout,
        "intents": intents(message_content),
        "allowed_mentions": ALLOWED_MENTIONS,
        "chunk_guilds_at_startup": False,
        # No message cache: discord.py would update a cached message in place when its edit
        # arrives, before the message itself was captured. The raw events carry what we need.
        "max_messages": None,
        "member_cache_flags": discord.MemberCacheFlags.none(),
        "enable_raw_presences": False,
    }
    if settings.discord_shard_count is None:
        return discord.Client(**options)
    # Several processes split the shards; AutoShardedClient runs this process's share.
    if settings.discord_shard_ids:
        options["shard_ids"] = list(settings.discord_shard_ids)
    return discord.AutoShardedClient(shard_count=settings.discord_shard_count, **options)


async def probe(settings: Settings) -> BotInfo:
    """Log in once to learn who the token is and whether the application has the Message
    Content intent (the gateway refuses a connection that asks for it without)."""
    point_at(settings)
    client = discord.Client(intents=discord.Intents(guilds=True))
    try:
        await client.login(settings.discord_token or "")
        flags = client.application_flags
        assert client.user is not None and client.application_id is not None
        return BotInfo(
            str(client.user),
            client.application_id,
            flags.gateway_message_content or flags.gateway_message_content_limited,
        )
    except discord.LoginFailure as exc:
        raise ConfigError("DISCORD_TOKEN was refused by Discord: check the bot token") from exc
    except (discord.HTTPException, OSError) as exc:
        raise PlatformError(f"cannot reach Discord at {Route.BASE}: {exc}") from exc
    finally:
        await client.close()


def _who(user: discord.abc.User | None, user_id: int | str | None = None) -> UserRef:
    if user is None:
        return UserRef(str(user_id or ""), str(user_id or "someone"))
    return UserRef(str(user.id), user.display_name)


def _parse_time(value: str | None) -> datetime:
    return datetime.fromisoformat(value) if value else discord.utils.utcnow()


class DiscordAdapter:
    def __init__(
        self,
        dispatcher: Dispatcher,
        platform: DiscordPlatform,
        config: TocsinConfig,
        *,
        guild_ids: Sequence[int] = (),
        message_content: bool = True,
        answer_within: float = 2.0,
    ) -> None:
        self._dispatcher = dispatcher
        self.platform = platform
        self.client = platform.client
        self.answer_within = answer_within
        self.message_content = message_content
        self._guild_ids = tuple(guild_ids)
        self._tasks: set[asyncio.Task[None]] = set()
        self._capture_lock = asyncio.Lock()
        self._open_forms: OrderedDict[str, FormModal] = OrderedDict()
        self._runner: asyncio.Task[None] | None = None
        self.tree: app_commands.CommandTree[discord.Client] = app_commands.CommandTree(self.client)
        self.tree.add_command(incident_group(config, self._on_command, dispatcher.open_incidents))
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
            raise ConfigError("DISCORD_TOKEN was refused by Discord: check the bot token") from exc
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
    def stopped(self) -> asyncio.Task[None] | None:
        """The gateway connection's task: it ends only when the bot stops or fails."""
        return self._runner

    async def sync_commands(self) -> None:
        """Register ``/incident``: in each of ``DISCORD_GUILD_IDS`` (at once), else globally
        (Discord may take a while to show global commands)."""
        try:
            if not self._guild_ids:
                await self.tree.sync()
                log.info("Discord: /incident synced globally")
            for guild_id in self._guild_ids:
                guild = discord.Object(id=guild_id)
                self.tree.copy_global_to(guild=guild)
                await self.tree.sync(guild=guild)
                log.info("Discord: /incident synced to server %s", guild_id)
        except discord.Forbidden as exc:
            raise ConfigError(
                "Discord refused to register /incident: is the bot in every server of "
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
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    def _spawn(self, work: Coroutine[Any, Any, None], what: str) -> None:
        async def run() -> None:
            try:
                await work
            except Exception:
                log.exception("Discord %s failed", what)

        task = asyncio.create_task(run())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # Interactions.

    async def _on_command(
        self, interaction: discord.Interaction[Any], name: str, options: dict[str, str | None]
    ) -> None:
        command = Command(
            PLATFORM,
            _who(interaction.user),
            self._channel_of(interaction),
            name,
            options={k: v for k, v in options.items() if v is not None},
        )
        self._spawn(self._answer(interaction, self._dispatcher.command(command)), "command")

    async def on_tocsin_click(
        self, interaction: discord.Interaction[Any], action: str, incident: int
    ) -> None:
        click = Action(
            PLATFORM, _who(interaction.user), self._channel_of(interaction), action, incident
        )
        self._spawn(self._answer(interaction, self._dispatcher.action(click)), "button")

    async def on_tocsin_submit(
        self, interaction: discord.Interaction[Any], modal: FormModal
    ) -> None:
        submitted = Action(
            PLATFORM,
            _who(interaction.user),
            self._channel_of(interaction),
            modal.form.action,
            modal.form.incident_id,
            modal.values(),
        )
        self._spawn(self._answer(interaction, self._dispatcher.action(submitted)), "form")

    async def on_interaction(self, interaction: discord.Interaction[Any]) -> None:
        """Every interaction, after discord.py routed it: a form Tocsin no longer knows (it
        was opened before a restart) is answered here, since nothing else will."""
        if interaction.type != discord.InteractionType.modal_submit or not interaction.data:
            return
        custom_id = str(interaction.data.get("custom_id", ""))
        if custom_id.startswith(FORM_PREFIX) and self._open_forms.pop(custom_id, None) is None:
            self._spawn(self._answer(interaction, _done(Reply(STALE_FORM, ok=False))), "form")

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
        if not reply.ephemeral and reply.form is None:
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

    # Channel capture. Each handler takes the lock first, so events are recorded in the
    # order Discord sent them (an edit never overtakes its message).

    async def on_message(self, message: discord.Message) -> None:
        async with self._capture_lock:
            event = self._message_event(message)
            if event is not None:
                await self._dispatcher.channel_event(event)

    def _message_event(self, message: discord.Message) -> ChannelEvent | None:
        if message.author.bot or message.guild is None:
            return None
        channel = str(message.channel.id)
        if message.type == discord.MessageType.pins_add and message.reference is not None:
            pinned = str(message.reference.message_id)
            return ChannelEvent(
                PLATFORM, channel, "pin", pinned, _who(message.author), message.created_at
            )
        if message.type not in (discord.MessageType.default, discord.MessageType.reply):
            return None
        text = "\n".join([message.content, *(a.url for a in message.attachments)]).strip()
        if not text:
            return None  # without the Message Content intent, other people's text is empty
        return ChannelEvent(
            PLATFORM,
            channel,
            "message",
            str(message.id),
            _who(message.author),
            message.created_at,
            text,
        )

    async def on_raw_message_edit(self, payload: discord.RawMessageUpdateEvent) -> None:
        async with self._capture_lock:
            data: dict[str, Any] = dict(payload.data)
            author = data.get("author") or {}
            if author.get("bot") or not data.get("edited_timestamp") or not data.get("content"):
                return  # an embed unfurling, a bot, or no Message Content intent
            member = data.get("member") or {}
            name = member.get("nick") or author.get("global_name") or author.get("username")
            await self._dispatcher.channel_event(
                ChannelEvent(
                    PLATFORM,
                    str(payload.channel_id),
                    "edit",
                    str(payload.message_id),
                    UserRef(str(author.get("id", "")), name or str(author.get("id", ""))),
                    _parse_time(data["edited_timestamp"]),
                    str(data["content"]),
                )
            )

    async def on_raw_message_delete(self, payload: discord.RawMessageDeleteEvent) -> None:
        async with self._capture_lock:
            await self._deleted(payload.channel_id, payload.message_id)

    async def on_raw_bulk_message_delete(self, payload: discord.RawBulkMessageDeleteEvent) -> None:
        async with self._capture_lock:
            for message_id in sorted(payload.message_ids):
                await self._deleted(payload.channel_id, message_id)

    async def _deleted(self, channel_id: int, message_id: int) -> None:
        # Discord does not say who deleted a message.
        event = ChannelEvent(
            PLATFORM,
            str(channel_id),
            "delete",
            str(message_id),
            UserRef("", "someone"),
            discord.utils.utcnow(),
        )
        await self._dispatcher.channel_event(event)

    async def on_raw_reaction_add(self, payload: discord.RawReactionActionEvent) -> None:
        async with self._capture_lock:
            if str(payload.emoji) != PIN or payload.guild_id is None:
                return
            if self.client.user is not None and payload.user_id == self.client.user.id:
                return
            member = payload.member
            if member is not None and member.bot:
                return
            event = ChannelEvent(
                PLATFORM,
                str(payload.channel_id),
                "pin",
                str(payload.message_id),
                _who(member, payload.user_id),
                discord.utils.utcnow(),
            )
            await self._dispatcher.channel_event(event)


async def _done(reply: Reply) -> Reply:
    return reply
