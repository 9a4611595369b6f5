"""Logging: text or JSON lines on stderr, one access line per request, one handler however often configured."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest

from myservice.logs import HANDLER_NAME, JSONFormatter, configure_logging
from myservice.tests.probes import create_probe_app


@pytest.fixture(autouse=True)
def _restore_root_logger() -> Iterator[None]:
    """Leave the root logger's handlers and level as the test found them."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    root.handlers[:], root.level = handlers, level


async def serve_one(settings: dict[str, object], path: str, request_id: str = "req-1") -> None:
    """Build the probe app now (so its handler writes to the captured stderr) and send one request."""
    app = create_probe_app(settings)
    async with app.test_app():
        await app.test_client().get(path, headers={"X-Request-ID": request_id})


async def test_text_lines(capsys: pytest.CaptureFixture[str]) -> None:
    await serve_one({"LOG_FORMAT": "text"}, "/probes/request-id")
    lines = capsys.readouterr().err.splitlines()
    assert lines[0].endswith(" INFO myservice [req-1] handling with an extra")
    assert lines[1].endswith(
        " INFO myservice.access [req-1] GET /probes/request-id 200 " + lines[1].split()[-2] + " ms"
    )
    assert len(lines) == 2


async def test_json_lines(capsys: pytest.CaptureFixture[str]) -> None:
    await serve_one({"LOG_FORMAT": "json"}, "/probes/request-id")
    view, access = [json.loads(line) for line in capsys.readouterr().err.splitlines()]
    assert view.keys() == {"timestamp", "level", "logger", "message", "request_id", "order"}
    assert (view["level"], view["logger"], view["request_id"], view["order"]) == ("INFO", "myservice", "req-1", 42)
    assert view["timestamp"].endswith("+00:00")
    expected = {"logger": "myservice.access", "method": "GET", "path": "/probes/request-id", "status": 200}
    assert access.items() >= expected.items()
    assert isinstance(access["duration_ms"], float)
    assert access["request_id"] == "req-1"


async def test_json_exception_has_traceback(capsys: pytest.CaptureFixture[str]) -> None:
    await serve_one({"LOG_FORMAT": "json"}, "/probes/boom")
    error, access = [json.loads(line) for line in capsys.readouterr().err.splitlines()]
    assert (error["level"], error["request_id"], access["status"]) == ("ERROR", "req-1", 500)
    assert "Traceback" in error["exception"]
    assert "secret database password" in error["exception"]


async def test_log_level_hides_lower_levels(capsys: pytest.CaptureFixture[str]) -> None:
    await serve_one({"LOG_LEVEL": "WARNING"}, "/probes/request-id")
    assert capsys.readouterr().err == ""


def test_configuring_twice_keeps_one_handler() -> None:
    configure_logging("INFO", "text")
    configure_logging("DEBUG", "json")
    ours = [handler for handler in logging.getLogger().handlers if handler.name == HANDLER_NAME]
    assert len(ours) == 1
    assert logging.getLogger().level == logging.DEBUG


def test_json_line_keeps_what_orjson_refuses(capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging("INFO", "json")
    logging.getLogger("myservice").info("counted", extra={"count": 2**70, "text": "caf\udce9"})
    line = json.loads(capsys.readouterr().err)
    assert (line["message"], line["count"], line["text"]) == ("counted", 2**70, "caf\udce9")


@pytest.mark.parametrize("created", [0.0005, 1700000000.9995, 1764112204.1234996, 1795651843.1089995, 2e9 - 0.0004])
def test_json_timestamp_is_what_datetime_says(created: float) -> None:
    expected = datetime.fromtimestamp(created, UTC).isoformat(timespec="milliseconds")
    assert JSONFormatter().timestamp(created) == expected


def test_json_line_leaves_out_uvicorns_coloured_message(capsys: pytest.CaptureFixture[str]) -> None:
    """uvicorn's `color_message` extra (the message with ANSI escapes) is not a field of the JSON line."""
    configure_logging("INFO", "json")
    logging.getLogger("uvicorn.error").info("Started %s", "server", extra={"color_message": "\x1b[1m%s\x1b[0m"})
    text = capsys.readouterr().err
    assert json.loads(text).keys() == {"timestamp", "level", "logger", "message", "request_id"}
    assert "\x1b" not in text


@pytest.mark.parametrize(
    ("path", "shown"),
    [
        ("/x\nFORGED", "/x\\nFORGED"),
        ("/x\r\n2026-01-01 00:00:00,000 INFO myservice.access [a] GET /", "/x\\r\\n2026-01-01"),
        ("/\x1b[31mred", "/\\x1b[31mred"),
        ("/x\u2028y\x85z", "/x\\u2028y\\x85z"),
    ],
)
async def test_text_line_escapes_control_characters(capsys: pytest.CaptureFixture[str], path: str, shown: str) -> None:
    """A path with a newline, a carriage return, a terminal escape or a Unicode line break writes one line."""
    await serve_one({"LOG_FORMAT": "text"}, path)
    [line] = capsys.readouterr().err.splitlines()
    assert f" INFO myservice.access [req-1] GET {shown}" in line
    assert line.isprintable()


async def test_text_traceback_lines_are_indented_and_escaped(capsys: pytest.CaptureFixture[str]) -> None:
    """Every line of a traceback is indented, so an exception's message cannot start a forged record."""
    configure_logging("INFO", "text")
    try:
        raise ValueError("bad\n2026-01-01 00:00:00,000 INFO myservice.access [a] GET / 200\x1b[0m")
    except ValueError:
        logging.getLogger("myservice").exception("failed\nFORGED")
    first, *rest = capsys.readouterr().err.splitlines()
    assert first.endswith(" ERROR myservice [-] failed\\nFORGED")
    assert rest[0] == "    Traceback (most recent call last):"
    assert all(line.startswith("    ") and line.isprintable() for line in rest)
    forged = "    2026-01-01 00:00:00,000 INFO myservice.access [a] GET / 200\\x1b[0m"
    assert rest[-2:] == ["    ValueError: bad", forged]
