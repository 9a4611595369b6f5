"""Logging: one handler on the root logger, text or JSON lines, the request id on every record (and the trace
and span ids while a sampled span is active, when tracing is on), and one access-log line per request."""

from __future__ import annotations

import json
import logging
import math
import sys
import time

import orjson
from hypercorn.logging import AccessLogAtoms
from opentelemetry import trace
from quart import Quart

from myservice.request_id import current_request_id

HANDLER_NAME = "myservice"
TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s"
# Attributes every LogRecord has; anything else on a record is an extra, passed with `extra=`.
STANDARD_ATTRIBUTES = frozenset(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {"message", "asctime"}
# Not extras either: uvicorn's copy of the message with terminal colours (ANSI escapes), on its loggers'
# records in every process; skipped here, it costs nothing per record.
NOT_EXTRAS = STANDARD_ATTRIBUTES | {"color_message"}

ACCESS_FORMAT = "%s %s %s %.3f ms"
CALLER_FORMAT = ACCESS_FORMAT + " by %s"  # a request with a verified bearer token: its subject
access_logger = logging.getLogger("myservice.access")


_make_record = logging.getLogRecordFactory()


def _record_with_request_id(*args: object, **kwargs: object) -> logging.LogRecord:
    """Stamp every record, whichever handler gets it, with the id of the request being handled."""
    record = _make_record(*args, **kwargs)
    record.request_id = current_request_id() or "-"
    return record


def _record_with_trace(*args: object, **kwargs: object) -> logging.LogRecord:
    """The request id, and the ids of the active span when it is sampled: its trace can then be found."""
    record = _record_with_request_id(*args, **kwargs)
    context = trace.get_current_span().get_span_context()
    if context.trace_flags.sampled:
        record.trace_id = trace.format_trace_id(context.trace_id)
        record.span_id = trace.format_span_id(context.span_id)
    return record


def correlate_traces() -> None:
    """Put the active span's ids on every record from now on (tracing.py does, when tracing is on).
    The JSON format writes them as extras; the text format at the end of the line."""
    logging.setLogRecordFactory(_record_with_trace)


class TextFormatter(logging.Formatter):
    """TEXT_FORMAT, with what a client sent unable to forge a record: non-printable characters (a newline in a
    path, a terminal escape) are written as Python escapes, and a traceback's lines are indented."""

    def __init__(self) -> None:
        super().__init__(TEXT_FORMAT)

    def formatMessage(self, record: logging.LogRecord) -> str:  # noqa: N802  # logging's name
        """The record's line, then its trace and span ids if it has them."""
        line = super().formatMessage(record)
        trace_id = record.__dict__.get("trace_id")
        return line if trace_id is None else f"{line} trace_id={trace_id} span_id={record.__dict__['span_id']}"

    def format(self, record: logging.LogRecord) -> str:
        text = super().format(record)
        if text.isprintable():  # nearly every record: one check, in C, on the access line's hot path
            return text
        line = self.formatMessage(record)  # the record's own line, as super().format() wrote it
        trace = text[len(line) :].lstrip("\n")  # a traceback, a stack, or nothing
        return escape(line) + "".join(f"\n    {escape(part)}" for part in trace.splitlines())


def escape(text: str) -> str:
    """`text` with each non-printable character as its Python escape: \\n, \\x1b, \\u2028."""
    return "".join(char if char.isprintable() else char.encode("unicode_escape").decode() for char in text)


class JSONFormatter(logging.Formatter):
    """One JSON object per line: timestamp, level, logger, message, then the request id and the extras,
    and the traceback. orjson encodes a record in a seventh of the json module's instructions (see bench/)."""

    _second: tuple[int, str] = (-1, "")  # the last second formatted, and its text: one attribute, for threads

    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "timestamp": self.timestamp(record.created),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        entry.update({key: value for key, value in vars(record).items() if key not in NOT_EXTRAS})
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        try:
            return orjson.dumps(entry, default=str).decode()
        except orjson.JSONEncodeError:  # what orjson refuses and json takes: an int over 64 bits, a lone surrogate
            return json.dumps(entry, default=str)

    def timestamp(self, created: float) -> str:
        """ISO 8601 in UTC to the millisecond, e.g. 2026-11-25T23:10:04.123+00:00 (the date and time
        part is formatted once per second)."""
        fraction, whole = math.modf(created)
        second, microseconds = divmod(int(whole) * 1_000_000 + round(fraction * 1_000_000), 1_000_000)  # as datetime
        cached, text = self._second
        if second != cached:
            text = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(second))
            self._second = (second, text)
        return f"{text}.{microseconds // 1000:03d}+00:00"


def configure_logging(level: str, log_format: str) -> None:
    """Install (or replace) the service's handler on the root logger; other handlers are kept."""
    handler = logging.StreamHandler(sys.stderr)
    handler.name = HANDLER_NAME
    handler.setFormatter(JSONFormatter() if log_format == "json" else TextFormatter())
    logging.setLogRecordFactory(_record_with_request_id)
    # Neither format prints threads or processes: not collecting them for every record saves a
    # quarter of what a record costs (the logging HOWTO's "Optimization" section).
    logging.logThreads = logging.logMultiprocessing = logging.logProcesses = False
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


def log_access(method: str, path: str, status: int, seconds: float, subject: str | None = None) -> None:
    """The access line of one request: method, path, status, duration and the caller's subject, also as extras."""
    if not access_logger.isEnabledFor(logging.INFO):
        return
    duration_ms = round(seconds * 1000, 3)
    # The record info(..., extra=...) would make, without walking the stack for the caller's line or
    # checking that the extras' names are free (they are).
    args = (method, path, status, duration_ms) if subject is None else (method, path, status, duration_ms, subject)
    text = ACCESS_FORMAT if subject is None else CALLER_FORMAT
    record = logging.getLogRecordFactory()(access_logger.name, logging.INFO, "", 0, text, args, None)
    record.__dict__.update(method=method, path=path, status=status, duration_ms=duration_ms)
    if subject is not None:
        record.subject = subject
    access_logger.handle(record)
