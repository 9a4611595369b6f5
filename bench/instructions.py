"""Instructions per request in the server process, counted by valgrind's callgrind.

Requests/s on a shared machine move with whatever else runs on it; the instructions a request
costs do not. Each target is started as `make serve` starts it, under callgrind, twice: once
answering FEW requests and once MANY (one keep-alive connection, 127.0.0.1 only), and the
difference divided by MANY - FEW is the cost of one request, start-up and shutdown cancelled out.
About 100x slower than running natively: a few minutes per target.
"""

from __future__ import annotations

import http.client
import os
import re
import shutil
import signal
import tempfile
from pathlib import Path

from bench.servers import Target, started, wait_until_up

FEW, MANY = 200, 1200
STARTUP_SECONDS = 180  # the service imports and starts under callgrind, ~50x slower than natively
VALGRIND = ["valgrind", "--tool=callgrind", "--callgrind-out-file=/dev/null"]
VALGRIND_HINT = "No instruction counts: valgrind is not installed (on Debian or Ubuntu: apt-get install -y valgrind)."
COLLECTED = re.compile(r"Collected\s*:\s*(\d+)")


def have_valgrind() -> bool:
    """Whether valgrind is on PATH."""
    return shutil.which("valgrind") is not None


def per_request(target: Target, port: int, env: dict[str, str], path: str = "/") -> int:
    """Instructions one `GET path` costs the target's server process."""
    few, many = (collected(target, port, env, path, requests) for requests in (FEW, MANY))
    return round((many - few) / (MANY - FEW))


def collected(target: Target, port: int, env: dict[str, str], path: str, requests: int) -> int:
    """Instructions the target's server process ran, from start to exit, having answered `requests`."""
    with tempfile.TemporaryDirectory() as folder:
        log = Path(folder) / "callgrind.log"
        prefix = [*VALGRIND, f"--log-file={log}"]
        with started(target, port, env, [], wrapper=prefix) as running:
            wait_until_up(running, f"http://127.0.0.1:{port}/healthz", STARTUP_SECONDS)
            send(port, path, requests)
            os.killpg(running.process.pid, signal.SIGTERM)  # a clean exit, so callgrind writes its totals
            running.process.wait(timeout=STARTUP_SECONDS)
        return parse_collected(log.read_text())


def send(port: int, path: str, requests: int) -> None:
    """`requests` GETs of `path` over one keep-alive connection, each answered 200."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    try:
        for _ in range(requests):
            connection.request("GET", path)
            response = connection.getresponse()
            response.read()
            if response.status != 200:
                raise RuntimeError(f"GET {path} answered {response.status}")
    finally:
        connection.close()


def parse_collected(log: str) -> int:
    """The instruction total of callgrind's log (its `Collected : N` line)."""
    found = COLLECTED.search(log)
    if found is None:
        raise RuntimeError(f"callgrind printed no total: {log[-500:]}")
    return int(found[1])
