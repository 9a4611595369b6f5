"""What every production server of the service starts from, whichever server it is.

PORT (8000), HOST (0.0.0.0), WORKERS (the number of CPUs) and ROOT_PATH (empty) come from the
environment; the graceful timeout and logging from the settings (file and MYSERVICE_* variables).
Hypercorn's configuration (`serving.py`) and the uvicorn lane (`fastlane.py`) both read them
here, so the two servers cannot drift apart. The app reads its settings here too (`app_settings`),
so that a settings error stops every server with a failure status.
"""

from __future__ import annotations

import errno
import multiprocessing
import os
import signal
import socket
import sys
from dataclasses import dataclass
from pathlib import Path

from myservice.logs import configure_logging
from myservice.metrics_folder import share_between_workers
from myservice.settings import SettingsError, Source, Value, load_settings

KEEP_ALIVE_SECONDS = 5  # also the time a request's head may take to arrive, on both servers
HEAD_LIMIT_BYTES = 16 * 1024  # a larger request head is answered 431 (Hypercorn's h11_max_incomplete_size)
CONNECTIONS_PER_WORKER = 1000  # uvicorn answers 503 past it; below the usual limit of 1024 open files


@dataclass(frozen=True)
class ServerOptions:
    """Where and how to serve: address, worker processes, path prefix, graceful timeout."""

    host: str
    port: int
    workers: int
    root_path: str
    graceful_timeout: float


def server_options() -> ServerOptions:
    """Read the server's environment and settings, configure logging, share metrics between workers."""
    settings = load_settings()
    configure_logging(str(settings["LOG_LEVEL"]), str(settings["LOG_FORMAT"]))
    options = ServerOptions(
        host=os.environ.get("HOST", "0.0.0.0"),
        port=_env_int("PORT", 8000, 1, 65535),
        workers=_env_int("WORKERS", os.cpu_count() or 1, 1, 64),
        root_path=root_path(),
        graceful_timeout=float(str(settings["GRACEFUL_TIMEOUT"])),
    )
    share_between_workers(options.workers)  # worker processes share metrics through files
    return options


def root_path() -> str:
    """The path prefix under which a proxy forwards requests (ROOT_PATH), or nothing."""
    return os.environ.get("ROOT_PATH", "")


def check_port_free(host: str, port: int) -> None:
    """Stop with one line if something listens on the port already: workers would share it (SO_REUSEPORT)."""
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # a port left in TIME_WAIT is free
        try:
            probe.bind((host, port))
        except OSError as error:
            why = "is in use: is the service running already?" if error.errno == errno.EADDRINUSE else error.strerror
            raise SystemExit(f"port {port} on {host[:60]} {why}") from None


def run_by_hypercorn() -> bool:
    """Whether this process runs the `hypercorn` command, or is a worker it spawned (with the same argv)."""
    # .../bin/hypercorn, or .../hypercorn/__main__.py (python -m hypercorn)
    return "hypercorn" in Path(sys.argv[0]).parts[-2:]


def app_settings(source: Source = None) -> dict[str, Value]:
    """The app's settings (see `load_settings`); a settings error stops a `hypercorn` command's master too."""
    try:
        return load_settings(source)
    except SettingsError:
        master = _hypercorn_master()
        if master is not None:
            # Hypercorn 0.18's master exits 0 whatever its workers' status (pgjones/hypercorn#269) and takes
            # SIGTERM, SIGINT and SIGHUP for a clean stop or a reload: SIGKILL fails the start (status 137).
            # This worker then exits 1 with the error; the master's resource tracker removes, with a warning,
            # the semaphores the master held. test_serve checks all this and warns when Hypercorn changes.
            os.kill(master, signal.SIGKILL)
        raise


def _hypercorn_master() -> int | None:
    """The pid of the `hypercorn` command that spawned this process as a worker, if it did."""
    parent = multiprocessing.parent_process()
    if parent is None or parent.pid != os.getppid():  # not a spawned child, or its parent is gone
        return None
    return parent.pid if run_by_hypercorn() else None


def _env_int(name: str, default: int, low: int, high: int) -> int:
    """An integer environment variable, checked like a setting."""
    text = os.environ.get(name, str(default))
    if not (text.isdigit() and low <= int(text) <= high):
        raise SettingsError(f"environment variable {name} has value {text!r}; expected an integer from {low} to {high}")
    return int(text)
