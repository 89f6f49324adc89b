"""Tocsin's errors.

::

    TocsinError                 base of everything Tocsin raises on purpose
    ├── UserError               a person asked for something that cannot be done; the message
    │                           is shown to them as it is, and nothing was changed
    ├── ConfigError             the config file or environment is wrong; names the file, line
    │   │                       and key, or the variable
    │   └── SettingsError       an environment variable is wrong: one line that names it, and
    │                           never shows a secret
    └── PlatformError           a chat platform refused or failed a call (wraps the SDK's error);
        │                       ``retryable`` when trying again later may work (a 5xx, a
        │                       timeout, a rate limit: ``retry_after`` seconds, if it said)
        ├── Later               not now: the platform asks to come back after ``retry_after``
        │                       seconds (a rate limit, a channel's pacing); not a failure
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


class SettingsError(ConfigError):
    """An environment variable is wrong: one line that names the variable and the problem,
    and never a secret (a token, a password)."""


class PlatformError(TocsinError):
    """A chat platform refused or failed a call.

    ``retryable``: the same call may work later (a 5xx, a reply that is not the platform's
    JSON, a timeout, a lost connection, a rate limit); the worker tries again with backoff,
    not before ``retry_after`` seconds when the platform said how long to wait. Otherwise
    (a permission missing, a channel that does not exist) trying again cannot help.
    """

    def __init__(
        self,
        message: str,
        *,
        retryable: bool = False,
        retry_after: float | None = None,
        code: str = "",
    ) -> None:
        super().__init__(message)
        self.retryable = retryable
        self.retry_after = retry_after
        self.code = code
        """The platform's own word for the refusal (Slack's ``error``), when it gave one."""


class Later(PlatformError):
    """Not now: the platform asks to come back in ``retry_after`` seconds (a rate limit, a
    channel's pacing). The worker tries again then, without counting it as a failure."""

    def __init__(self, message: str, retry_after: float) -> None:
        super().__init__(message, retryable=True, retry_after=retry_after)


class Unsupported(PlatformError):
    """The platform cannot do this at all."""


class ChannelNameTaken(PlatformError):
    """A channel of that name exists already."""
