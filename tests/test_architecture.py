"""The layers of ARCHITECTURE.md: adapters → bot → storage, and nothing the other way."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PLATFORM_SDKS = {"slack_bolt", "slack_sdk", "discord"}
COMPOSITION_ROOT = {"bot/app.py", "bot/cli.py"}


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
def test_the_core_imports_no_platform(path: Path) -> None:
    forbidden = PLATFORM_SDKS | {"adapters"}
    if str(path.relative_to(ROOT)) in COMPOSITION_ROOT:
        forbidden = PLATFORM_SDKS
    assert not imports(path) & forbidden


@pytest.mark.parametrize("path", modules("storage"), ids=lambda p: str(p.relative_to(ROOT)))
def test_storage_imports_nothing_above_it(path: Path) -> None:
    assert not imports(path) & (PLATFORM_SDKS | {"bot", "adapters"})


def test_the_checker_sees_imports() -> None:
    assert {"adapters", "bot"} <= imports(ROOT / "bot" / "app.py")


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
