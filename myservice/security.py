"""Response headers that cost nothing and close whole classes of browser attacks; CORS when configured."""

from __future__ import annotations

from collections.abc import Iterable

from quart import Quart
from quart_cors import cors

NOSNIFF = (b"x-content-type-options", b"nosniff")
# Data (JSON, text) may neither run anything nor be framed: one CSP says both.
DATA_HEADERS = (NOSNIFF, (b"content-security-policy", b"default-src 'none'; frame-ancestors 'none'"))
# A page (the docs UI) runs scripts, so it gets the older headers against framing and referrer leaks.
PAGE_HEADERS = (NOSNIFF, (b"x-frame-options", b"DENY"), (b"referrer-policy", b"no-referrer"))


def init_app(app: Quart) -> None:
    """Allow CORS for CORS_ALLOWED_ORIGINS, if any. (The middleware adds the headers.)"""
    if app.config["CORS_ALLOWED_ORIGINS"]:
        cors(app, allow_origin=app.config["CORS_ALLOWED_ORIGINS"])


def missing_headers(headers: Iterable[tuple[bytes, bytes]]) -> list[tuple[bytes, bytes]]:
    """The security headers that `headers` (an ASGI response's) do not set themselves. Each header costs
    the server time on every response (see bench/), so a data response gets two, a page three."""
    present = {name.lower(): value for name, value in headers}
    wanted = PAGE_HEADERS if present.get(b"content-type", b"").startswith(b"text/html") else DATA_HEADERS
    return [header for header in wanted if header[0] not in present]
