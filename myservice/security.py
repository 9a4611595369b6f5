"""Response headers that cost nothing and close whole classes of browser attacks; CORS when configured."""

from __future__ import annotations

from quart import Quart, Response
from quart_cors import cors

HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
}
# Nothing in a JSON (or plain text) response may load, run or be framed.
DATA_CSP = "default-src 'none'; frame-ancestors 'none'"


def init_app(app: Quart) -> None:
    """Add the security headers to every response; allow CORS_ALLOWED_ORIGINS, if any."""
    app.after_request(_add_headers)
    if app.config["CORS_ALLOWED_ORIGINS"]:
        cors(app, allow_origin=app.config["CORS_ALLOWED_ORIGINS"])


async def _add_headers(response: Response) -> Response:
    response.headers.update(HEADERS)
    if response.mimetype != "text/html":
        response.headers["Content-Security-Policy"] = DATA_CSP
    return response
