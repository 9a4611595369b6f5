"""Request ids: the caller's `X-Request-ID` when it is sane, else a new one."""

from __future__ import annotations

import os
import re
from collections.abc import Iterable
from contextvars import ContextVar

HEADER = b"x-request-id"
# Bounded and log-safe: no spaces, quotes or control characters can reach a log line or a header.
SANE = re.compile(rb"[A-Za-z0-9._:/+=-]{1,128}")

request_id_var: ContextVar[str | None] = ContextVar("request_id", default=None)


def current_request_id() -> str | None:
    """The id of the request being handled, or None outside a request."""
    return request_id_var.get()


def choose(headers: Iterable[tuple[bytes, bytes]]) -> str:
    """The request's id: its sane `X-Request-ID` header, else 32 random hex digits."""
    for name, value in headers:
        if name == HEADER and SANE.fullmatch(value):
            return value.decode()
    return os.urandom(16).hex()
