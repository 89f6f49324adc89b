"""Tocsin's errors.

::

    TocsinError                 base of everything Tocsin raises on purpose
    ├── UserError               a person asked for something that cannot be done; the message
    │                           is shown to them as it is, and nothing was changed
    ├── ConfigError             the config file or environment is wrong; names the file, line
    │                           and key, or the variable
    └── PlatformError           a chat platform refused or failed a call (wraps the SDK's error)
        ├── Unsupported         the platform cannot do this at all (never silently ignored)
        └── ChannelNameTaken    a channel of that name exists already; pick another name

Storage has its own errors (:mod:`storage.errors`), whose messages are as plain.
"""

from __future__ import annotations


class TocsinError(Exception):
    """Base of the errors Tocsin raises on purpose."""


class UserError(TocsinError):
    """Shown to the person who asked, as it is; nothing was changed."""


class ConfigError(TocsinError):
    """The configuration is wrong: the message names the file, line and key."""


class PlatformError(TocsinError):
    """A chat platform refused or failed a call."""


class Unsupported(PlatformError):
    """The platform cannot do this at all."""


class ChannelNameTaken(PlatformError):
    """A channel of that name exists already."""
