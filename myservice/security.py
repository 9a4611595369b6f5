"""Response headers that cost nothing and close whole classes of browser attacks; CORS when configured."""

from __future__ import annotations

from quart import Quart
from quart_cors import cors

HEADERS = [
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"no-referrer"),
]
# Nothing in a JSON (or plain text) response may load, run or be framed.
DATA_CSP = (b"content-security-policy", b"default-src 'none'; frame-ancestors 'none'")


def init_app(app: Quart) -> None:
    """Allow CORS for CORS_ALLOWED_ORIGINS, if any. (The headers are added by myservice.middleware.)"""
    if app.config["CORS_ALLOWED_ORIGINS"]:
        cors(app, allow_origin=app.config["CORS_ALLOWED_ORIGINS"])


def add_headers(headers: list[tuple[bytes, bytes]]) -> list[tuple[bytes, bytes]]:
    """`headers` (an ASGI response's) plus the security headers the response does not set itself."""
    present = {name.lower(): value for name, value in headers}
    added = [header for header in HEADERS if header[0] not in present]
    if DATA_CSP[0] not in present and not present.get(b"content-type", b"").startswith(b"text/html"):
        added.append(DATA_CSP)
    return headers + added
