"""The local shell: Tocsin in a terminal, with no chat account (``tocsin shell``)."""

from adapters.console.platform import ConsolePlatform
from adapters.console.shell import Shell

__all__ = ["ConsolePlatform", "Shell"]
