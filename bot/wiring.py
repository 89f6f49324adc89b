"""What the core's services share, built once by the composition root (:mod:`bot.app`)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from bot.clock import Clock
from bot.config import TocsinConfig
from bot.identity import Directory
from bot.platform import ChatPlatform
from bot.presenter import Presenter
from storage.engine import SessionFactory


@dataclass(frozen=True)
class Wiring:
    sessions: SessionFactory
    config: TocsinConfig
    directory: Directory
    platforms: Mapping[str, ChatPlatform]
    """The platforms this process runs, by name; adapters may be added before start."""
    presenter: Presenter
    clock: Clock
