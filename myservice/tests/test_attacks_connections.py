"""Hostile connections against both serving lanes, as the same table: each is bounded in bytes or in time."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator

import pytest

from .helpers import free_port, get, lane_command, lane_env, serving

pytestmark = pytest.mark.slow

HEAD = b"GET / HTTP/1.1\r\nHost: attack\r\n"
CLOSED = b""  # the connection was closed without an answer


@pytest.fixture(name="url", scope="module", params=["hypercorn", "uvicorn"])
def _url(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """One worker of the lane, production settings, on a free port of 127.0.0.1."""
    port, folder = free_port(), tmp_path_factory.mktemp("lane")
    url = f"http://127.0.0.1:{port}"
    with serving(lane_command(request.param), f"{url}/healthz", env=lane_env(port, WORKERS="1"), cwd=folder):
        yield url


def send(url: str, data: bytes, wait: float = 10) -> tuple[bytes, float]:
    """Send `data` on a new connection: the first bytes of the answer (or CLOSED) and the seconds it took."""
    with socket.create_connection(("127.0.0.1", int(url.rpartition(":")[2])), timeout=wait) as sock:
        start = time.monotonic()
        sock.sendall(data)
        answer = sock.recv(64)
        return answer, time.monotonic() - start


@pytest.mark.parametrize(
    ("data", "answer", "seconds"),
    [
        pytest.param(HEAD + b"X-Big: " + b"a" * 2**20 + b"\r\n\r\n", b"HTTP/1.1 431 ", (0, 2), id="huge-header"),
        pytest.param(HEAD + b"X-A: b\r\n" * 20_000 + b"\r\n", b"HTTP/1.1 431 ", (0, 2), id="many-headers"),
        pytest.param(b"GET / HTTP/1.1\r\n", CLOSED, (4.5, 7), id="request-line-then-silence"),
        pytest.param(HEAD + b"X-A: b\r\n", CLOSED, (4.5, 7), id="half-a-head-then-silence"),
        pytest.param(b"", CLOSED, (4.5, 7), id="connect-then-silence"),
    ],
)
def test_a_hostile_connection_is_bounded(url: str, data: bytes, answer: bytes, seconds: tuple[float, float]) -> None:
    """A head over 16 KiB is answered 431 at once; a head still incomplete 5 s after it began is cut."""
    got, took = send(url, data)
    assert got[: len(answer)] == answer
    assert bool(got) == bool(answer), got  # closed without a word when no answer is expected
    assert seconds[0] <= took <= seconds[1]


def test_many_idle_connections_are_cut_and_others_served(url: str) -> None:
    """1,100 connections that send nothing are closed within seconds; then a client is answered 200."""
    address = ("127.0.0.1", int(url.rpartition(":")[2]))
    idle = [socket.create_connection(address, timeout=10) for _ in range(1100)]
    try:
        start = time.monotonic()
        assert {sock.recv(1) for sock in idle} == {CLOSED}
        took = time.monotonic() - start
    finally:
        for sock in idle:
            sock.close()
    status, headers, body = get(f"{url}/healthz")
    assert (status, headers["Content-Type"], body) == (200, "application/json", b'{"status":"ok"}\n')
    assert took <= 7


def test_a_large_body_in_one_packet_with_its_head_is_no_large_head(url: str) -> None:
    """Only the head counts towards the 16 KiB: a 30 KB JSON body sent with it is answered 200."""
    body = b'{"a": "' + b"a" * 30_000 + b'"}'
    head = b"POST /probes/echo HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
    got, _ = send(url, head + b"Content-Length: %d\r\n\r\n" % len(body) + body)
    assert got.startswith(b"HTTP/1.1 200 ")
