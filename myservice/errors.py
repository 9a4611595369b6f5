"""Errors are data: every error response is `application/problem+json` (RFC 9457)."""

from __future__ import annotations

import logging
import re
from http import HTTPStatus
from itertools import accumulate
from typing import Any, cast

from opentelemetry import trace
from quart import Quart, Request, Response, current_app
from werkzeug.exceptions import BadRequest, HTTPException, InternalServerError, UnsupportedMediaType

from myservice.request_id import current_request_id

logger = logging.getLogger("myservice.errors")
MEDIA_TYPE = "application/problem+json"
SERVER_ERROR_DETAIL = "The server could not complete the request; the error is logged under its request id."
# Deeper JSON reaches Python's recursion limit in json.loads (a 500), or later in validation or encoding.
MAX_JSON_DEPTH = 64
# +1 for an opening bracket, -1 for a closing one; quotes are kept (strings are then cut out), the rest dropped.
STEPS = bytes.maketrans(b"[{]}", b"\x01\x01\xff\xff")
NOT_STEPS = bytes(sorted(set(range(256)) - set(b'[]{}"')))
STRING = re.compile(rb'"[^"]*"')
CHUNK = 4096  # steps summed in C between two checks of the level


class TooDeepError(ValueError):
    """A JSON body nested deeper than MAX_JSON_DEPTH."""

    def __init__(self) -> None:
        super().__init__(f"it nests arrays and objects deeper than {MAX_JSON_DEPTH} levels")


class JSONRequest(Request):
    """A request whose JSON body, when a view asks for one, is a 415 if not sent as JSON, a 400 if malformed."""

    async def get_json(self, force: bool = False, silent: bool = False, cache: bool = True) -> Any:  # noqa: ANN401  # as Quart's
        """The parsed JSON body; a body that is not UTF-8, or nested too deep, is malformed JSON too."""
        if not (force or self.is_json):  # Quart returns None here; werkzeug (and so Flask) says 415
            if silent:
                return None
            sent = f"as {self.mimetype!r}" if self.mimetype else "without a Content-Type"
            raise UnsupportedMediaType(
                f"The request body must be JSON (Content-Type: application/json); it was sent {sent}."
            )
        data = await self.get_data(cache=True, as_text=False, parse_form_data=False)  # kept for nests_deeper
        try:
            body = await super().get_json(force, silent, cache)
            if nests_deeper(data, MAX_JSON_DEPTH):
                raise TooDeepError
        except RecursionError:  # json.loads reaches Python's limit (about 1000 levels) before nests_deeper looks
            return None if silent else self.on_json_loading_failed(TooDeepError())
        except (UnicodeDecodeError, TooDeepError) as error:
            return None if silent else self.on_json_loading_failed(error)
        return body

    def on_json_loading_failed(self, error: Exception) -> Any:  # noqa: ANN401  # as Quart's
        """Say what is wrong with the body (Quart says so only in debug mode)."""
        raise BadRequest(f"The request body is not valid JSON: {error}")


def nests_deeper(data: bytes, depth: int) -> bool:
    """Whether valid JSON text nests arrays and objects deeper than `depth`: a count of brackets when there
    are few (nearly every body), else a running sum of the brackets outside strings, done in C by chunks."""
    if data.count(b"[") + data.count(b"{") <= depth:
        return False
    if b"\\" in data:  # an escaped quote would end a string below, and an escaped backslash hide one
        data = data.replace(b"\\\\", b"").replace(b'\\"', b"")
    steps = memoryview(STRING.sub(b"", data.translate(STEPS, NOT_STEPS))).cast("b")
    level = 0
    for start in range(0, len(steps), CHUNK):
        levels = list(accumulate(steps[start : start + CHUNK], initial=level))
        if max(levels) > depth:
            return True
        level = levels[-1]
    return False


def init_app(app: Quart) -> None:
    """Turn every HTTP error and every unhandled exception into a problem+json response.
    (JSONRequest is part of the request class myservice.middleware installs.)"""
    app.register_error_handler(HTTPException, handle_http_exception)
    app.register_error_handler(Exception, handle_exception)


def problem(status: int, detail: str, headers: dict[str, str] | None = None, **members: object) -> Response:
    """A problem+json response: type, title, status, detail, the request id, then any extra members."""
    body = {"type": "about:blank", "title": HTTPStatus(status).phrase, "status": status, "detail": detail}
    body |= {"request_id": current_request_id()} | members
    # The app's one JSON style (see myservice.api); typed as werkzeug's, it is app.response_class.
    response = cast(Response, current_app.json.response(body))
    response.status_code = status
    response.headers.update(headers or {})
    response.mimetype = MEDIA_TYPE
    return response


async def handle_http_exception(error: HTTPException) -> Response:
    """An HTTP error (404, 405, 413, abort(...)) as problem+json, keeping its headers (Allow on 405)."""
    headers = {key: value for key, value in error.get_headers() if key.lower() != "content-type"}
    if "Allow" in headers:  # werkzeug builds it from a set: give clients a stable order
        headers["Allow"] = ", ".join(sorted(headers["Allow"].split(", ")))
    return problem(error.code or 500, error.description or "", headers)


async def handle_exception(error: Exception) -> Response:
    """An unhandled exception: the traceback goes to the log, a generic 500 to the client."""
    logger.error("Unhandled exception: %s", type(error).__name__, exc_info=error)
    trace.get_current_span().record_exception(error)  # an event on the request's span, when tracing is on
    return problem(InternalServerError.code, SERVER_ERROR_DETAIL)
