"""Hostile requests against the service served as in production, on both lanes: no 5xx, the app's answers
problem+json with the request id and security headers, relative redirects, one metrics label for made-up
methods, no traceback and no forged line in the log, and the server still serving afterwards."""

from __future__ import annotations

import json
import re
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from .helpers import BIN, REPO, free_port, get, send_raw, serving

PROBE_APP = "myservice.tests.probes:create_probe_app()"
LANES = {
    "hypercorn": [str(BIN / "hypercorn"), "--config", "python:myservice.serving", PROBE_APP],
    "uvicorn": [sys.executable, "-m", "myservice.fastlane", PROBE_APP],
}
CLOSE = b"Connection: close\r\n"
# A record's first line starts with its time; its other lines (a traceback) with four spaces.
LOG_LINE = re.compile(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} [A-Z]+ |    ")


def request(line: bytes, headers: bytes = b"", body: bytes = b"", host: bytes = b"attacked.example") -> bytes:
    """A raw HTTP/1.1 request: `line`, then Host, Connection: close, `headers` (each ending in CRLF), `body`."""
    length = b"Content-Length: %d\r\n" % len(body) if body else b""
    return line + b"\r\nHost: " + host + b"\r\n" + CLOSE + headers + length + b"\r\n" + body


def json_post(body: bytes) -> bytes:
    """POST `body` as JSON to the probe that echoes it."""
    return request(b"POST /probes/echo HTTP/1.1", b"Content-Type: application/json\r\n", body)


@dataclass(frozen=True)
class Attack:
    """A hostile request and the status each lane answers (None: any status under 500)."""

    name: str
    raw: bytes
    hypercorn: int | None = None
    uvicorn: int | None = None


def both(name: str, raw: bytes, status: int) -> Attack:
    """An attack both lanes answer with `status`."""
    return Attack(name, raw, status, status)


ATTACKS = [
    # Methods: uvicorn's parser refuses the ones it does not know with its own 400; the app answers the rest 501.
    Attack("made-up method", request(b"FOO /healthz HTTP/1.1"), 501, 400),
    Attack("lower-case method", request(b"get /healthz HTTP/1.1"), 200, 400),  # Hypercorn upper-cases methods
    Attack("1000-character method", request(b"X" * 1000 + b" /healthz HTTP/1.1"), 501, 400),
    both("method the parser knows", request(b"PROPFIND /healthz HTTP/1.1"), 501),
    both("TRACE", request(b"TRACE /healthz HTTP/1.1"), 501),
    both("control character in the method", request(b"G\x01T /healthz HTTP/1.1"), 400),
    # Request targets and versions.
    both("control character in the path", request(b"GET /a\x01b HTTP/1.1"), 400),
    both("space in the path", request(b"GET /a b HTTP/1.1"), 400),
    both(
        "newline in the path (log injection)",
        request(b"GET /x%0a2026-01-01%2000:00:00,000%20INFO%20FORGED HTTP/1.1"),
        404,
    ),
    both("terminal escape in the path", request(b"GET /x%1b[2J HTTP/1.1"), 404),
    both("8,000-character path", request(b"GET /" + b"a" * 8000 + b" HTTP/1.1"), 404),
    both("asterisk target", request(b"GET * HTTP/1.1"), 404),
    both("double slash to another host", request(b"GET //evil.example/ HTTP/1.1"), 404),
    Attack("no leading slash", request(b"GET healthz HTTP/1.1"), None, 400),
    Attack("unknown version", request(b"GET /healthz HTTP/9.9"), None, 400),
    # Host.
    both("Host a..b", request(b"GET /healthz HTTP/1.1", host=b"a..b"), 400),
    both("Host with a 64-character label", request(b"GET /healthz HTTP/1.1", host=b"x" * 64 + b".example"), 400),
    both("Host with a port and an empty label", request(b"GET /healthz HTTP/1.1", host=b".example:80"), 400),
    both("redirect with Host evil.example", request(b"GET /probes/folder HTTP/1.1", host=b"evil.example"), 308),
    both("absolute-form target to evil.example", request(b"GET http://evil.example/probes/folder HTTP/1.1"), 308),
    # Headers: CR, LF, NUL and folding cannot smuggle a header in (the parsers refuse or fold them).
    both("CR in a header value", request(b"GET /healthz HTTP/1.1", b"X-A: a\rSet-Cookie: x=1\r\n"), 400),
    both("NUL in a header value", request(b"GET /healthz HTTP/1.1", b"X-A: a\x00b\r\n"), 400),
    both("space in a header name", request(b"GET /healthz HTTP/1.1", b"Bad Name: 1\r\n"), 400),
    Attack("bare LF in a header value", request(b"GET /healthz HTTP/1.1", b"X-A: a\nX-B: 1\r\n"), 200, 400),
    Attack("folded header line", request(b"GET /healthz HTTP/1.1", b"X-A: a\r\n Set-Cookie: x=1\r\n"), 200, 400),
    both(
        "encoded CRLF in X-Request-ID", request(b"GET /healthz HTTP/1.1", b"X-Request-ID: a%0d%0aSet-Cookie:x\r\n"), 200
    ),
    # JSON bodies.
    both("100,000 nested arrays", json_post(b"[" * 100_000 + b"]" * 100_000), 400),
    both("65 nested objects", json_post(b'{"a":' * 65 + b"0" + b"}" * 65), 400),
    both("500,000 unclosed arrays", json_post(b"[" * 500_000), 400),
    both("body over MAX_CONTENT_LENGTH", json_post(b'"' + b"x" * (1024 * 1024) + b'"'), 413),
    both("body that is not UTF-8", json_post(b'"\xff\xfe"'), 400),
]


@pytest.fixture(name="lane", scope="module", params=list(LANES))
def _lane(request: pytest.FixtureRequest) -> str:
    """Each production lane in turn."""
    return str(request.param)


@pytest.mark.slow
def test_hostile_requests(lane: str, tmp_path: Path) -> None:
    """Every row of ATTACKS answered as the table says, then the server serves, counts and logs soundly."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    env = {"PORT": str(port), "HOST": "127.0.0.1", "WORKERS": "1", "QUART_SETTINGS": str(REPO / "settings.prod.yml")}
    env["MYSERVICE_LOG_FORMAT"] = "text"  # the format a forged line would fool
    with serving(LANES[lane], f"{url}/healthz", env=env, cwd=tmp_path) as server:
        answers = {attack.name: send_raw(port, attack.raw) for attack in ATTACKS}
        still = get(f"{url}/healthz")
        metrics = get(f"{url}/metrics")[2].decode()
    for attack in ATTACKS:
        check_answer(attack, getattr(attack, lane), *answers[attack.name])
    assert (still[0], json.loads(still[2])) == (200, {"status": "ok"})
    assert set(re.findall(r'method="([^"]*)"', metrics)) <= {
        "GET",
        "HEAD",
        "POST",
        "PUT",
        "DELETE",
        "OPTIONS",
        "PATCH",
        "other",
    }
    assert "Traceback" not in server.output
    assert [line for line in server.output.splitlines() if not LOG_LINE.match(line)] == []


def check_answer(attack: Attack, expected: int | None, status: int, headers: dict[str, str], body: bytes) -> None:
    """The app's answers carry the request id, the security headers and, for errors, a problem; the server's own
    refusals (a malformed request the app never sees) are plain 400s."""
    where = f"{attack.name}: {status} {headers} {body[:200]!r}"
    assert status == expected if expected is not None else status < 500, where
    assert b"Traceback" not in body, where
    if "x-request-id" not in headers:
        assert status == 400, where
        return
    assert headers["x-content-type-options"] == "nosniff", where
    if status >= 400:
        problem = json.loads(body)
        assert headers["content-type"] == "application/problem+json", where
        assert (problem["status"], problem["request_id"]) == (status, headers["x-request-id"]), where
    if status == 308:
        assert headers["location"] == "/probes/folder/", where
