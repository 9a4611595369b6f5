"""What every production server of the service starts from, whichever server it is.

PORT (8000), HOST (0.0.0.0), WORKERS (the number of CPUs) and ROOT_PATH (empty) come from the
environment; the graceful timeout and logging from the settings (file and MYSERVICE_* variables).
Hypercorn's configuration (`myservice.serving`) and the uvicorn lane (`myservice.fastlane`) both
read them here, so the two servers cannot drift apart.
"""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass

from myservice.logs import configure_logging
from myservice.settings import SettingsError, load_settings

KEEP_ALIVE_SECONDS = 5


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
    workers = _env_int("WORKERS", os.cpu_count() or 1, 1, 64)
    if workers > 1 and "PROMETHEUS_MULTIPROC_DIR" not in os.environ:
        # Workers are separate processes: they share metrics through files (see myservice/metrics.py).
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix="myservice-metrics-")
    return ServerOptions(
        host=os.environ.get("HOST", "0.0.0.0"),
        port=_env_int("PORT", 8000, 1, 65535),
        workers=workers,
        root_path=os.environ.get("ROOT_PATH", ""),
        graceful_timeout=float(str(settings["GRACEFUL_TIMEOUT"])),
    )


def _env_int(name: str, default: int, low: int, high: int) -> int:
    """An integer environment variable, checked like a setting."""
    text = os.environ.get(name, str(default))
    if not (text.isdigit() and low <= int(text) <= high):
        raise SettingsError(f"environment variable {name} has value {text!r}; expected an integer from {low} to {high}")
    return int(text)
