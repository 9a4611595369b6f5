"""Request ids: the caller's `X-Request-ID` when it is sane, else a new one; echoed on the response."""

from __future__ import annotations

import re
import uuid
from contextvars import ContextVar

from quart import Quart, Response, request

HEADER = "X-Request-ID"
# Bounded and log-safe: no spaces, quotes or control characters can reach a log line or a header.
SANE = re.compile(r"[A-Za-z0-9._:/+=-]{1,128}")

_request_id: ContextVar[str | None] = ContextVar("request_id", default=None)


def current_request_id() -> str | None:
    """The id of the request being handled, or None outside a request."""
    return _request_id.get()


def init_app(app: Quart) -> None:
    """Give every request an id and echo it in the response."""
    app.before_request(_assign)
    app.after_request(_echo)


async def _assign() -> None:
    incoming = request.headers.get(HEADER, "")
    _request_id.set(incoming if SANE.fullmatch(incoming) else uuid.uuid4().hex)


async def _echo(response: Response) -> Response:
    response.headers[HEADER] = _request_id.get() or ""
    return response
