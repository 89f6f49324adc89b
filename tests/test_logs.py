"""Tocsin's log: text by default, one JSON object per line with ``TOCSIN_LOG_FORMAT=json``,
a bad value refused; and no access-log line for the health and metrics probes."""

from __future__ import annotations

import io
import json
import logging
from datetime import datetime
from pathlib import Path

import aiohttp
import pytest

from bot.errors import ConfigError
from bot.logs import JsonFormatter
from bot.settings import Settings
from tests.cli import Running, tocsin_env, tocsin_inline


@pytest.mark.parametrize(("value", "expected"), [(None, "text"), ("", "text"), (" JSON ", "json")])
def test_the_log_format_setting(value: str | None, expected: str) -> None:
    env = {} if value is None else {"TOCSIN_LOG_FORMAT": value}
    assert Settings.from_env(env, dotenv=False).log_format == expected


def test_a_bad_log_format_is_a_settings_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"^TOCSIN_LOG_FORMAT must be text or json, not 'xml'$"):
        Settings.from_env({"TOCSIN_LOG_FORMAT": "xml"}, dotenv=False)
    env = tocsin_env(f"sqlite+aiosqlite:///{tmp_path / 'x.db'}", TOCSIN_LOG_FORMAT="xml")
    result = tocsin_inline("run", cwd=tmp_path, env=env)
    assert result.returncode == 2
    assert "TOCSIN_LOG_FORMAT must be text or json, not 'xml'" in result.stderr
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "x.db").exists()


def test_a_json_line_carries_the_exception_and_stays_one_line() -> None:
    out = io.StringIO()
    handler = logging.StreamHandler(out)
    handler.setFormatter(JsonFormatter())
    logger = logging.getLogger("tocsin.test_json")
    logger.addHandler(handler)
    logger.propagate = False
    try:
        try:
            {}["missing"]
        except KeyError:
            logger.exception("could not do %s\n2026-12-02 00:00:00,000 ERROR forged", "it")
        logger.warning("plain \u2028 \x1b[31m")
    finally:
        logger.removeHandler(handler)
        logger.propagate = True
    lines = out.getvalue().splitlines()
    assert len(lines) == 2
    failed, plain = (json.loads(line) for line in lines)
    assert failed["level"] == "ERROR" and failed["logger"] == "tocsin.test_json"
    assert failed["message"] == "could not do it\n2026-12-02 00:00:00,000 ERROR forged"
    assert failed["exception"].startswith("Traceback (most recent call last):")
    assert failed["exception"].endswith("KeyError: 'missing'")
    assert datetime.fromisoformat(failed["time"]).utcoffset() is not None
    assert plain == {
        "time": plain["time"],
        "level": "WARNING",
        "logger": "tocsin.test_json",
        "message": "plain \u2028 \x1b[31m",
    }


async def test_run_logs_json_without_the_probes(sqlite_url: str, tmp_path: Path) -> None:
    env = tocsin_env(sqlite_url, TOCSIN_HTTP_PORT="0", TOCSIN_LOG_FORMAT="json")
    running = await Running.start(tmp_path, env, ready="listening on http://")
    try:
        base = f"http://127.0.0.1:{running.port}"
        async with aiohttp.ClientSession() as http:
            for path, status in [("/healthz", 200), ("/metrics", 200), ("/nowhere", 404)]:
                async with http.get(base + path) as response:
                    assert response.status == status
        await running.wait_for("GET /nowhere HTTP/1.1")
    finally:
        code = await running.stop()
    assert code == 0, running.log
    records = [json.loads(line) for line in running.log.splitlines()]
    for record in records:
        assert {"time", "level", "logger", "message"} <= record.keys()
        datetime.fromisoformat(record["time"])
    said = [(r["level"], r["logger"], r["message"]) for r in records]
    assert ("INFO", "tocsin", f"listening on {base} (/healthz, /metrics)") in said
    access = [m for level, logger, m in said if logger == "aiohttp.access"]
    assert len(access) == 1 and access[0].startswith('127.0.0.1 "GET /nowhere HTTP/1.1" 404 ')
