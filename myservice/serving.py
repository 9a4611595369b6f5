"""Hypercorn's production configuration, read from the environment and the service's settings.

    hypercorn --config python:myservice.serving 'myservice:create_app()'

PORT (8000), HOST (0.0.0.0) and WORKERS (the number of CPUs) come from the environment; the
graceful timeout and logging from the settings (file and MYSERVICE_* variables).
"""

import logging
import os
import tempfile

from myservice.logs import configure_logging
from myservice.settings import SettingsError, load_settings


def _env_int(name: str, default: int, low: int, high: int) -> int:
    """An integer environment variable, checked like a setting."""
    text = os.environ.get(name, str(default))
    if not (text.isdigit() and low <= int(text) <= high):
        raise SettingsError(f"environment variable {name} has value {text!r}; expected an integer from {low} to {high}")
    return int(text)


_settings = load_settings()
configure_logging(str(_settings["LOG_LEVEL"]), str(_settings["LOG_FORMAT"]))
_workers = _env_int("WORKERS", os.cpu_count() or 1, 1, 64)

bind = [f"{os.environ.get('HOST', '0.0.0.0')}:{_env_int('PORT', 8000, 1, 65535)}"]
# One worker serves in this process (0 to Hypercorn), so SIGTERM reaches the app and /readyz can fail first.
workers = 0 if _workers == 1 else _workers
worker_class = "uvloop"
graceful_timeout = _settings["GRACEFUL_TIMEOUT"]
keep_alive_timeout = 5
root_path = os.environ.get("ROOT_PATH", "")
accesslog = None  # the app logs one line per request itself
errorlog = logging.getLogger("hypercorn.error")  # through the service's log handler and format

if _workers > 1 and "PROMETHEUS_MULTIPROC_DIR" not in os.environ:
    # Workers are separate processes: they share metrics through files (see myservice/metrics.py).
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix="myservice-metrics-")
