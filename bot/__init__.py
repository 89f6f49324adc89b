"""Tocsin's platform-neutral core: incidents, commands, timeline, rendering.

Nothing in here imports a chat platform SDK or anything under ``adapters``; only the
composition root (:mod:`bot.app`) and the CLI know which adapters exist.
"""

__version__ = "0.1.0"
