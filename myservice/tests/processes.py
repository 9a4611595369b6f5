"""Helpers for tests that start real server processes on 127.0.0.1."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from email.message import Message
from pathlib import Path

BIN = Path(sys.executable).parent
STARTUP_SECONDS = 20


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def get(url: str | urllib.request.Request, timeout: float = 5) -> tuple[int, Message, bytes]:
    """Send `url` (a GET unless it is a Request saying otherwise): status, headers, body, for errors too."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return response.status, response.headers, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.headers, error.read()


@dataclass
class Server:
    """A started server process and, once it is stopped, everything it printed."""

    process: subprocess.Popen[str]
    output: str = ""


@contextmanager
def serving(
    command: Sequence[str], url: str, env: Mapping[str, str] | None = None, cwd: Path | None = None
) -> Iterator[Server]:
    """Start `command` in its own process group, wait until `url` answers, and kill the group afterwards."""
    process = subprocess.Popen(
        command,
        env={**os.environ, **(env or {})},
        cwd=cwd,
        text=True,
        start_new_session=True,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    server = Server(process)
    try:
        wait_until_up(process, url)
        yield server
    finally:
        server.output = stop(process)


def wait_until_up(process: subprocess.Popen[str], url: str) -> None:
    """Poll `url` until it answers, the process dies, or STARTUP_SECONDS pass."""
    deadline = time.monotonic() + STARTUP_SECONDS
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"server exited with {process.returncode}:\n{process.communicate()[0]}")
        try:
            get(url, timeout=1)
            return
        except OSError:
            time.sleep(0.1)
    raise AssertionError(f"server did not answer {url} within {STARTUP_SECONDS} s")


def children(pid: int) -> list[int]:
    """The process ids of `pid`'s children (Linux)."""
    return [int(child) for child in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]


def stop(process: subprocess.Popen[str]) -> str:
    """Kill the process group (a reloader's children too), reap the process, return its output."""
    with suppress(ProcessLookupError):  # it may have exited already
        os.killpg(process.pid, signal.SIGKILL)
    output, _ = process.communicate(timeout=STARTUP_SECONDS)
    return output


def sigterm_during_slow_request(
    command: Sequence[str], url: str, env: Mapping[str, str], cwd: Path
) -> tuple[int, bytes, int]:
    """Serve, start GET `url`/probes/slow, SIGTERM the server meanwhile: the slow answer and the exit status."""
    with serving(command, f"{url}/healthz", env=env, cwd=cwd) as server, ThreadPoolExecutor(1) as pool:
        slow = pool.submit(get, f"{url}/probes/slow")
        time.sleep(0.5)
        server.process.send_signal(signal.SIGTERM)
        status, _, body = slow.result(timeout=10)
        return status, body, server.process.wait(timeout=10)
