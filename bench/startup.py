"""Start-up cost of the ``tocsin`` command: wall time and what it imports.

    python -m bench.startup [--runs 5]

Runs ``tocsin --version``, ``tocsin --help`` and ``tocsin shell`` (on an empty input, so it
starts, opens its database and leaves) as fresh processes, and prints the median wall time,
the import time Python reports (``-X importtime``), and which chat platform SDKs were
imported. Target (the core v2 issue): ``--version`` under 0.3 s, and neither ``--version``
nor ``shell`` imports a platform SDK.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

SDKS = ("slack_sdk", "slack_bolt", "discord", "alembic")


def run(args: list[str], cwd: Path, env: dict[str, str]) -> tuple[float, float, list[str]]:
    """(wall seconds, import seconds, platform SDKs imported) of ``tocsin <args>``."""
    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "bot.cli", *args],
        input="",
        capture_output=True,
        text=True,
        cwd=cwd,
        env=env,
        check=False,
    )
    wall = time.perf_counter() - started
    if done.returncode not in (0, 2):
        raise SystemExit(f"tocsin {' '.join(args)} failed:\n{done.stderr[-2000:]}")
    total, seen = 0, set()
    for line in done.stderr.splitlines():
        if not line.startswith("import time:") or "|" not in line:
            continue
        _self, cumulative, name = line[12:].split("|")
        if not cumulative.strip().isdigit():
            continue
        if not name[1:].startswith(" "):  # a top-level import: nested ones are indented
            total += int(cumulative)
        top = name.strip().split(".")[0]
        if top in SDKS:
            seen.add(top)
    return wall, total / 1e6, sorted(seen)


def main(runs: int) -> None:
    root = Path(__file__).resolve().parents[1]
    with tempfile.TemporaryDirectory() as folder:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("TOCSIN_", "SLACK_"))}
        env.pop("DISCORD_TOKEN", None)
        env.update(
            {
                "TOCSIN_DATABASE_URL": f"sqlite+aiosqlite:///{Path(folder) / 'bench.db'}",
                "PYTHONPATH": str(root),
            }
        )
        run(["migrate"], Path(folder), env)  # the shell's first start would migrate
        print(f"{'command':>16} | {'wall s':>7} | {'imports s':>9} | platform SDKs imported")
        for args in (["--version"], ["--help"], ["shell"]):
            walls, imports, seen = [], [], []
            for _ in range(runs):
                wall, imported, seen = run(args, Path(folder), env)
                walls.append(wall)
                imports.append(imported)
            label = "tocsin " + " ".join(args)
            print(
                f"{label:>16} | {statistics.median(walls):>7.2f} | "
                f"{statistics.median(imports):>9.2f} | {', '.join(seen) or 'none'}"
            )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    main(parser.parse_args().runs)
