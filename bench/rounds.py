"""What every lane of `make bench` does: serve its targets side by side, then load them in alternated rounds."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Sequence
from contextlib import ExitStack

from bench.load import LoadResult, python_load, run_wrk
from bench.servers import Target, started, wait_until_up

WARMUP_SECONDS = 1.0


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def load(port: int, path: str, seconds: float, wrk: bool) -> LoadResult:
    """One bounded load run against 127.0.0.1:`port``path`."""
    if wrk:
        return run_wrk(f"http://127.0.0.1:{port}{path}", seconds, [])
    return asyncio.run(python_load("127.0.0.1", port, path, seconds))


def serve_all(
    stack: ExitStack, targets: Sequence[Target], env: dict[str, str], prefix: list[str], paths: Sequence[str], wrk: bool
) -> dict[str, int]:
    """Start every target (killed when `stack` closes); once each path answers 200, warm it up. The ports by name."""
    ports = {target.name: free_port() for target in targets}
    for target in targets:
        running = stack.enter_context(started(target, ports[target.name], env, prefix))
        for path in paths:
            wait_until_up(running, f"http://127.0.0.1:{ports[target.name]}{path}")
            load(ports[target.name], path, WARMUP_SECONDS, wrk)
    return ports


def alternate(
    targets: Sequence[Target], ports: dict[str, int], paths: Sequence[str], rounds: int, seconds: float, wrk: bool
) -> dict[tuple[str, str], list[LoadResult]]:
    """`rounds` rounds of `seconds` per target and path, the targets' order rotating: the runs by (name, path)."""
    results: dict[tuple[str, str], list[LoadResult]] = {(t.name, path): [] for t in targets for path in paths}
    for round_ in range(rounds):
        order = [*targets[round_ % len(targets) :], *targets[: round_ % len(targets)]]
        for path in paths:
            for target in order:
                results[target.name, path].append(load(ports[target.name], path, seconds, wrk))
    return results
