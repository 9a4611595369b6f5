"""Readiness: named async checks that /readyz runs, and the shutdown flag that fails it first.

Add a check where its resource is created, e.g. in a `before_serving` function::

    async def ping_database() -> None:
        await current_app.extensions["db"].execute("SELECT 1")   # raises when unreachable

    add_readiness_check(app, "database", ping_database)

A check passes when it returns anything but False without raising within READINESS_TIMEOUT.
"""

from __future__ import annotations

import asyncio
import logging
import multiprocessing
import signal
import threading
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from types import FrameType

from quart import Quart

Check = Callable[[], Awaitable[object]]
Handler = Callable[[int, FrameType | None], object] | int | None
logger = logging.getLogger("myservice.readiness")


@dataclass
class Readiness:
    """The registered checks, and whether shutdown has begun."""

    checks: dict[str, Check] = field(default_factory=dict)
    shutting_down: bool = False

    async def run(self, timeout: float) -> dict[str, str]:
        """Run every check concurrently: name -> "ok" or why it failed."""
        results = await asyncio.gather(*(_run_check(name, check, timeout) for name, check in self.checks.items()))
        return dict(zip(self.checks, results, strict=True))


def add_readiness_check(app: Quart, name: str, check: Check) -> None:
    """Register `check` under `name`; /readyz fails while it fails."""
    checks = app.extensions["readiness"].checks
    if name in checks:
        raise ValueError(f"a readiness check named {name!r} is registered already")
    checks[name] = check


def init_app(app: Quart) -> None:
    """Keep a Readiness on the app; mark shutdown as begun on SIGTERM and when serving stops."""
    readiness = app.extensions["readiness"] = Readiness()
    previous: list[Handler] = []

    @app.before_serving
    async def watch_sigterm() -> None:
        if threading.current_thread() is not threading.main_thread():
            return  # signal handlers can only be set from the main thread
        server_handler = signal.getsignal(signal.SIGTERM)
        if callable(server_handler):  # quart run, Hypercorn serving in-process, uvicorn: chain onto it
            previous.append(signal.signal(signal.SIGTERM, _chain(readiness, server_handler)))
        elif multiprocessing.parent_process() is not None:
            # A Hypercorn worker process. Its master starts the graceful shutdown through an event, and
            # SIGTERMs the other workers as soon as the first has drained: let them finish draining too.
            previous.append(signal.signal(signal.SIGTERM, _chain(readiness, _drain_anyway)))

    @app.after_serving
    async def stop_serving() -> None:
        readiness.shutting_down = True
        if previous:
            signal.signal(signal.SIGTERM, previous.pop())


def _chain(readiness: Readiness, server_handler: Callable[[int, FrameType | None], object]) -> Handler:
    """A SIGTERM handler that flags shutdown, then calls the server's handler.

    asyncio's loop learns of signals through its wakeup fd, which a Python-level handler does not
    replace, so a server that used `loop.add_signal_handler` still starts its graceful shutdown.
    """

    def handler(signum: int, frame: FrameType | None) -> None:
        readiness.shutting_down = True
        server_handler(signum, frame)

    return handler


def _drain_anyway(signum: int, frame: FrameType | None) -> None:
    """SIGTERM in a worker whose master is shutting down: the graceful shutdown is already under way."""


async def _run_check(name: str, check: Check, timeout: float) -> str:
    """Run one check: "ok", or "failed", "timed out after Ns" or "error: ExceptionType"."""
    try:
        async with asyncio.timeout(timeout):
            passed = await check() is not False
    except TimeoutError:
        logger.warning("Readiness check %s timed out after %gs", name, timeout)
        return f"timed out after {timeout:g}s"
    except Exception as error:
        logger.warning("Readiness check %s raised", name, exc_info=error)
        return f"error: {type(error).__name__}"
    return "ok" if passed else "failed"
