"""Chat platform adapters: each sub-package turns one platform into the core's
:class:`bot.platform.ChatPlatform` and its payloads into :mod:`bot.inbound` objects."""
