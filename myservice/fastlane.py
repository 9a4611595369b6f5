"""The fast lane: the same app, settings, logging, shutdown and workers, served by uvicorn.

    python -m myservice.fastlane 'myservice:create_app()'

is what `make serve SERVER=uvicorn` runs. uvicorn parses HTTP in C (httptools) on uvloop: about
twice Hypercorn's requests/s (see docs/performance.md), without HTTP/2. Options come from
server.py, as for Hypercorn.
"""

from __future__ import annotations

import importlib
import multiprocessing
import os
import signal
import sys
from collections.abc import Awaitable, Callable
from types import FrameType
from typing import Any

import uvicorn

from myservice.fastlane_protocol import BoundedHttpToolsProtocol
from myservice.server import (
    CONNECTIONS_PER_WORKER,
    KEEP_ALIVE_SECONDS,
    check_port_free,
    root_path,
    server_options,
)
from myservice.supervisor import watch_parent

# The factory to serve, for every worker: uvicorn's workers import `served_app`, not this script.
APP_VARIABLE = "FASTLANE_APP"
ASGIApp = Callable[[Any, Any, Any], Awaitable[None]]  # scope, receive, send


def main(argv: list[str] = sys.argv) -> None:
    """Serve the app factory named like Hypercorn's argument (`module:factory()`) until SIGTERM or Ctrl-C."""
    if len(argv) != 2 or not argv[1].endswith("()"):
        raise SystemExit(f"usage: python -m myservice.fastlane 'module:factory()', not {argv[1:]}")
    os.environ[APP_VARIABLE] = argv[1]
    options = server_options()
    check_port_free(options.host, options.port)
    # uvicorn re-raises SIGTERM once it has drained; like Hypercorn, a graceful shutdown exits 0.
    signal.signal(signal.SIGTERM, _exit_0)
    uvicorn.run(
        f"{__name__}:served_app",
        factory=True,
        host=options.host,
        port=options.port,
        workers=options.workers,
        loop="uvloop",
        http=BoundedHttpToolsProtocol,  # httptools, with Hypercorn's limits on a request's head
        lifespan="on",
        log_config=None,  # uvicorn's loggers go through the service's root handler and format
        access_log=False,  # the app logs one line per request itself
        proxy_headers=False,  # as Hypercorn: X-Forwarded-* are not trusted by default
        server_header=False,  # as with Hypercorn: no server name to fingerprint
        timeout_keep_alive=KEEP_ALIVE_SECONDS,
        limit_concurrency=CONNECTIONS_PER_WORKER,
        # Typed int, but uvicorn hands it to asyncio.wait_for, which takes fractions of a second.
        timeout_graceful_shutdown=options.graceful_timeout,  # type: ignore[arg-type]
    )


def served_app() -> ASGIApp:
    """The app of FASTLANE_APP; under ROOT_PATH it sees the path as the proxy sent it, as with Hypercorn."""
    module, _, factory = os.environ[APP_VARIABLE].removesuffix("()").partition(":")
    app: ASGIApp = getattr(importlib.import_module(module), factory)()
    parent = multiprocessing.parent_process()
    if parent is not None:  # a worker of uvicorn's master: stop gracefully, as on SIGTERM, once it is gone
        watch_parent(parent.pid or 0, lambda: os.kill(os.getpid(), signal.SIGTERM))
    prefix = root_path()
    return _under_root_path(app, prefix) if prefix else app


def _under_root_path(app: ASGIApp, root_path: str) -> ASGIApp:
    """Set the scope's root_path but keep its path whole (uvicorn's own root_path would prefix the path)."""

    async def rooted(scope: dict[str, Any], receive: object, send: object) -> None:
        await app({**scope, "root_path": root_path}, receive, send)

    return rooted


def _exit_0(signum: int, frame: FrameType | None) -> None:
    sys.exit(0)


if __name__ == "__main__":
    main()
