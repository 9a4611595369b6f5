"""Logging: one handler on the root logger, text or JSON lines, the request id on every record,
and one access-log line per request."""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime

from hypercorn.logging import AccessLogAtoms
from quart import Quart

from myservice.request_id import current_request_id

HANDLER_NAME = "myservice"
TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s"
# Attributes every LogRecord has; anything else on a record is an extra, passed with `extra=`.
STANDARD_ATTRIBUTES = frozenset(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {"message", "asctime"}

ACCESS_FORMAT = "%s %s %s %.3f ms"
access_logger = logging.getLogger("myservice.access")


_make_record = logging.getLogRecordFactory()


def _record_with_request_id(*args: object, **kwargs: object) -> logging.LogRecord:
    """Stamp every record, whichever handler gets it, with the id of the request being handled."""
    record = _make_record(*args, **kwargs)
    record.request_id = current_request_id() or "-"
    return record


class JSONFormatter(logging.Formatter):
    """One JSON object per line: timestamp, level, logger, message, then request id and extras by name,
    and the traceback."""

    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "timestamp": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        attributes = vars(record)
        entry.update((key, attributes[key]) for key in sorted(attributes.keys() - STANDARD_ATTRIBUTES))
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str)


def configure_logging(level: str, log_format: str) -> None:
    """Install (or replace) the service's handler on the root logger; other handlers are kept."""
    handler = logging.StreamHandler(sys.stderr)
    handler.name = HANDLER_NAME
    handler.setFormatter(JSONFormatter() if log_format == "json" else logging.Formatter(TEXT_FORMAT))
    logging.setLogRecordFactory(_record_with_request_id)
    # Neither format prints thread or process names: not collecting them for every record saves a
    # quarter of what a record costs (the logging HOWTO's "Optimization" section).
    logging.logThreads = logging.logMultiprocessing = False
    root = logging.getLogger()
    for old in [old for old in root.handlers if old.name == HANDLER_NAME]:
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)


def init_app(app: Quart) -> None:
    """Configure logging from the app's settings. (Requests are logged by myservice.middleware.)"""
    configure_logging(app.config["LOG_LEVEL"], app.config["LOG_FORMAT"])
    # `quart run` hands Hypercorn's access log to app.logger; our own access line replaces it.
    app.logger.addFilter(lambda record: not isinstance(record.args, AccessLogAtoms))
    app.logger.setLevel(logging.NOTSET)  # Quart sets DEBUG in debug mode; LOG_LEVEL rules instead


def log_access(method: str, path: str, status: int, seconds: float) -> None:
    """The access line of one request: method, path, status and duration, also as extras."""
    if not access_logger.isEnabledFor(logging.INFO):
        return
    duration_ms = round(seconds * 1000, 3)
    extra = {"method": method, "path": path, "status": status, "duration_ms": duration_ms}
    # makeRecord + handle rather than info(): the same record, without walking the stack for its caller.
    record = access_logger.makeRecord(
        access_logger.name, logging.INFO, "", 0, ACCESS_FORMAT, (method, path, status, duration_ms), None, extra=extra
    )
    access_logger.handle(record)
