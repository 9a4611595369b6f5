"""Load generators: wrk when installed, else a bounded asyncio client; both give a LoadResult."""

from __future__ import annotations

import asyncio
import re
import shutil
import statistics
import subprocess
import time
from dataclasses import dataclass, field

CONNECTIONS = 32
WRK_HINT = "wrk is not installed: using the (slower) Python load generator. Install wrk: apt-get install -y wrk"
_UNITS = {"us": 1e-3, "ms": 1.0, "s": 1e3}


@dataclass(frozen=True)
class LoadResult:
    """Requests per second, latency percentiles in milliseconds, and failed requests."""

    requests_per_second: float
    p50_ms: float
    p99_ms: float
    errors: int
    requests: int


def wrk_command(url: str, duration: float, connections: int = CONNECTIONS) -> list[str]:
    """wrk with one thread, `connections` keep-alive connections and the latency distribution."""
    seconds = max(1, round(duration))
    return ["wrk", "-t1", f"-c{connections}", f"-d{seconds}s", "--timeout", "5s", "--latency", url]


def run_wrk(url: str, duration: float, prefix: list[str]) -> LoadResult:
    """Run wrk (after `prefix`, e.g. taskset) against `url` for `duration` seconds."""
    command = [*prefix, *wrk_command(url, duration)]
    done = subprocess.run(command, capture_output=True, text=True, timeout=duration + 30, check=True)
    return parse_wrk(done.stdout)


def parse_wrk(output: str) -> LoadResult:
    """The numbers of wrk's `--latency` report."""
    rate = re.search(r"^Requests/sec:\s+([\d.]+)", output, re.MULTILINE)
    total = re.search(r"^\s*(\d+) requests in ", output, re.MULTILINE)
    if not (rate and total):
        raise ValueError(f"not a wrk report:\n{output}")
    socket_errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", output)
    non_2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    errors = sum(map(int, socket_errors.groups())) if socket_errors else 0
    return LoadResult(
        requests_per_second=float(rate[1]),
        p50_ms=_wrk_percentile(output, "50"),
        p99_ms=_wrk_percentile(output, "99"),
        errors=errors + (int(non_2xx[1]) if non_2xx else 0),
        requests=int(total[1]),
    )


def _wrk_percentile(output: str, percent: str) -> float:
    """A latency percentile of wrk's distribution, in milliseconds."""
    found = re.search(rf"^\s+{percent}%\s+([\d.]+)(us|ms|s)\s*$", output, re.MULTILINE)
    if not found:
        raise ValueError(f"no {percent}% latency in the wrk report:\n{output}")
    return float(found[1]) * _UNITS[found[2]]


def have_wrk() -> bool:
    """Whether wrk is on the PATH."""
    return shutil.which("wrk") is not None


@dataclass
class _Tally:
    """What the connections of one Python load run share: requests left, latencies, errors."""

    budget: int
    latencies: list[float] = field(default_factory=list)
    errors: int = 0


async def python_load(
    host: str, port: int, path: str, duration: float, connections: int = CONNECTIONS, max_requests: int = 1_000_000
) -> LoadResult:
    """Keep-alive HTTP/1.1 GETs over `connections` connections, for `duration` s or `max_requests` requests."""
    tally, deadline = _Tally(max_requests), time.monotonic() + duration
    request = f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\n\r\n".encode()
    started = time.perf_counter()
    await asyncio.gather(*(_client(host, port, request, deadline, tally) for _ in range(connections)))
    elapsed = time.perf_counter() - started
    latencies = tally.latencies
    cuts = statistics.quantiles(latencies, n=100) if len(latencies) > 1 else [0.0] * 99
    return LoadResult(len(latencies) / elapsed, cuts[49], cuts[98], tally.errors, len(latencies) + tally.errors)


async def _client(host: str, port: int, request: bytes, deadline: float, tally: _Tally) -> None:
    """One connection sending requests one after another; it reconnects after an error."""
    connection: tuple[asyncio.StreamReader, asyncio.StreamWriter] | None = None
    while time.monotonic() < deadline and tally.budget > 0:
        tally.budget -= 1
        sent = time.perf_counter()
        try:
            if connection is None:
                connection = await asyncio.wait_for(asyncio.open_connection(host, port), 5)
            reader, writer = connection
            writer.write(request)
            status = await asyncio.wait_for(_read_response(reader), 5)
        except (OSError, asyncio.IncompleteReadError, TimeoutError, ValueError):
            tally.errors += 1
            _close(connection)
            connection = None
            continue
        if 200 <= status < 400:
            tally.latencies.append((time.perf_counter() - sent) * 1000)
        else:
            tally.errors += 1
    _close(connection)


async def _read_response(reader: asyncio.StreamReader) -> int:
    """Read one response with a Content-Length body; return its status."""
    head = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1")
    length = re.search(r"^content-length:\s*(\d+)", head, re.IGNORECASE | re.MULTILINE)
    if not length:
        raise ValueError(f"response without Content-Length: {head!r}")
    await reader.readexactly(int(length[1]))
    return int(head.split(" ", 2)[1])


def _close(connection: tuple[asyncio.StreamReader, asyncio.StreamWriter] | None) -> None:
    """Close the connection, if there is one."""
    if connection is not None:
        connection[1].close()
