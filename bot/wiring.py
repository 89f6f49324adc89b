"""What the core's services share, built once by the composition root (:mod:`bot.app`)."""

from __future__ import annotations

from dataclasses import dataclass

from bot.clock import Clock
from bot.commands.registry import Registry
from bot.config import TocsinConfig
from bot.identity import Directory
from bot.jobs import JobWriter
from bot.platform import ChatPlatform
from bot.presenter import Presenter
from bot.views import Views
from storage.engine import SessionFactory


@dataclass(frozen=True)
class Wiring:
    sessions: SessionFactory
    config: TocsinConfig
    directory: Directory
    platforms: dict[str, ChatPlatform]
    """The platforms this process runs, by name; plugins add theirs as they mount."""
    presenter: Presenter
    clock: Clock
    registry: Registry
    views: Views
    jobs: JobWriter
