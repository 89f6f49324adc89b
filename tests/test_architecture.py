"""The layers of ARCHITECTURE.md: adapters → bot → storage, and nothing the other way. The
core imports no platform SDK and no adapter, with no exception: adapters are plugins."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

from bot.plugins import discover
from tests.cli import tocsin_env

ROOT = Path(__file__).resolve().parents[1]
PLATFORM_SDKS = {"slack_bolt", "slack_sdk", "discord"}


def imports(path: Path) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module.split(".")[0])
    return found


def modules(package: str) -> list[Path]:
    return sorted((ROOT / package).rglob("*.py"))


@pytest.mark.parametrize("path", modules("bot"), ids=lambda p: str(p.relative_to(ROOT)))
def test_the_core_imports_no_platform_and_no_adapter(path: Path) -> None:
    assert not imports(path) & (PLATFORM_SDKS | {"adapters"})


@pytest.mark.parametrize("path", modules("storage"), ids=lambda p: str(p.relative_to(ROOT)))
def test_storage_imports_nothing_above_it(path: Path) -> None:
    assert not imports(path) & (PLATFORM_SDKS | {"bot", "adapters"})


def test_the_checker_sees_imports() -> None:
    assert {"adapters", "bot"} <= imports(ROOT / "adapters" / "slack" / "plugin.py")


@pytest.mark.parametrize("adapter", ["slack", "discord", "console"])
def test_no_adapter_knows_another(adapter: str) -> None:
    others = {"slack", "discord", "console"} - {adapter}
    for path in modules(f"adapters/{adapter}"):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        named = {
            node.module
            for node in ast.walk(tree)
            if isinstance(node, ast.ImportFrom) and node.module
        }
        assert not {m for m in named if m.split(".")[:2] in [["adapters", o] for o in others]}


def test_the_platforms_are_found_as_plugins() -> None:
    plugins = discover()
    assert set(plugins) == {"console", "discord", "slack"}
    for name, plugin in plugins.items():
        assert plugin.name == name
        assert all(v.isupper() for v in plugin.variables)


@pytest.mark.parametrize("plugin", ["slack", "discord", "console"])
def test_a_plugins_module_imports_no_sdk(plugin: str) -> None:
    """Loading a plugin (``tocsin --help`` does, for its subcommands) stays cheap."""
    assert not imports(ROOT / "adapters" / plugin / "plugin.py") & PLATFORM_SDKS
    assert not imports(ROOT / "adapters" / plugin / "__init__.py") & PLATFORM_SDKS


def _imported(args: list[str], tmp_path: Path, stdin: str = "") -> set[str]:
    code = (
        "import atexit, sys\n"
        "atexit.register(lambda: print('IMPORTED', ' '.join(sorted({m.split('.')[0] for m in "
        "sys.modules}))))\n"
        "from bot.cli import main\n"
        f"raise SystemExit(main({args!r}))\n"
    )
    env = tocsin_env(f"sqlite+aiosqlite:///{tmp_path / 'tocsin.db'}")
    done = subprocess.run(
        [sys.executable, "-c", code],
        input=stdin,
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env=env,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    line = next(x for x in done.stdout.splitlines() if x.startswith("IMPORTED"))
    return set(line.split()[1:])


@pytest.mark.parametrize("args", [["--version"], ["shell"]])
def test_version_and_the_shell_import_no_platform_sdk(args: list[str], tmp_path: Path) -> None:
    loaded = _imported(args, tmp_path, stdin="/incident help\n")
    assert not loaded & PLATFORM_SDKS
    if args == ["--version"]:
        assert not loaded & {"sqlalchemy", "alembic", "pydantic", "jinja2", "aiohttp"}
