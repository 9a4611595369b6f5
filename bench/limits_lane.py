"""The rate limits lane: the same route limited and exempt (bench/limits.py), counted in memory and in Redis.

Both stores are served at once and their rounds alternated, so every ratio is of the same run. The
Redis target runs when a Redis answers on 127.0.0.1:6379; the memory one always does.
"""

from __future__ import annotations

import argparse
import socket
from contextlib import ExitStack

from bench.limits import EXEMPT, LIMITED
from bench.report import LimitsLane
from bench.rounds import alternate, serve_all
from bench.servers import Target

PATHS = (LIMITED, EXEMPT)


def redis_answers() -> bool:
    """Whether a Redis answers PING on 127.0.0.1:6379."""
    try:
        with socket.create_connection(("127.0.0.1", 6379), timeout=1) as sock:
            sock.sendall(b"PING\r\n")
            return sock.recv(16).startswith(b"+PONG")
    except OSError:
        return False


def measure_limits(
    server: str, args: argparse.Namespace, prefix: list[str], wrk: bool, env: dict[str, str]
) -> LimitsLane:
    """Both paths on the memory store and, if a Redis answers, on the Redis store, in alternated rounds."""
    stores = ["memory", "redis"] if redis_answers() else ["memory"]
    targets = [Target(server, bare=False, limits=store) for store in stores]
    with ExitStack() as stack:
        ports = serve_all(stack, targets, env, prefix, PATHS, wrk)
        load = alternate(targets, ports, PATHS, args.rounds, args.duration, wrk)
    skipped = "" if "redis" in stores else "the Redis store: no Redis answers on 127.0.0.1:6379"
    return LimitsLane(targets, load, skipped)
