"""The database drivers Tocsin supports, in a module of their own that imports nothing, so
that the settings (which ``tocsin --help`` reads) check a URL's driver without loading the
engine's SQLAlchemy and SQLModel."""

from __future__ import annotations

SUPPORTED_DRIVERS = ("sqlite+aiosqlite", "postgresql+asyncpg")


def unsupported(driver: str) -> str:
    """What is said of a URL whose driver (as shown: quoted, cut short) is not supported."""
    return f"TOCSIN_DATABASE_URL uses {driver}; Tocsin supports " + " and ".join(
        f"{d}://…" for d in SUPPORTED_DRIVERS
    )
