"""Errors are data: every error response is `application/problem+json` (RFC 9457)."""

from __future__ import annotations

import logging
from http import HTTPStatus
from typing import Any, cast

from quart import Quart, Request, Response, current_app
from werkzeug.exceptions import BadRequest, HTTPException, InternalServerError, UnsupportedMediaType

from myservice.request_id import current_request_id

logger = logging.getLogger("myservice.errors")
MEDIA_TYPE = "application/problem+json"
SERVER_ERROR_DETAIL = "The server could not complete the request; the error is logged under its request id."


class JSONRequest(Request):
    """A request whose JSON body, when a view asks for one, is a 415 if not sent as JSON, a 400 if malformed."""

    async def get_json(self, force: bool = False, silent: bool = False, cache: bool = True) -> Any:  # noqa: ANN401  # as Quart's
        """The parsed JSON body; a body that is not UTF-8 is malformed JSON too."""
        if not (force or silent or self.is_json):  # Quart returns None here; werkzeug (and so Flask) says 415
            sent = f"as {self.mimetype!r}" if self.mimetype else "without a Content-Type"
            raise UnsupportedMediaType(
                f"The request body must be JSON (Content-Type: application/json); it was sent {sent}."
            )
        try:
            return await super().get_json(force, silent, cache)
        except UnicodeDecodeError as error:
            return None if silent else self.on_json_loading_failed(error)

    def on_json_loading_failed(self, error: Exception) -> Any:  # noqa: ANN401  # as Quart's
        """Say what is wrong with the body (Quart says so only in debug mode)."""
        raise BadRequest(f"The request body is not valid JSON: {error}")


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
    return problem(InternalServerError.code, SERVER_ERROR_DETAIL)
