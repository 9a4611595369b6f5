"""Security headers on every response; CORS off unless origins are configured."""

from __future__ import annotations

import pytest
from quart.typing import TestClientProtocol as Client

from myservice import create_app

DATA_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "Content-Security-Policy": "default-src 'none'; frame-ancestors 'none'",
}
PAGE_HEADERS = {"X-Content-Type-Options": "nosniff", "X-Frame-Options": "DENY", "Referrer-Policy": "no-referrer"}


@pytest.mark.parametrize(("path", "status"), [("/", 200), ("/healthz", 200), ("/metrics", 200), ("/nope", 404)])
async def test_headers_on_data_responses(client: Client, path: str, status: int) -> None:
    response = await client.get(path)
    assert response.status_code == status
    assert {key: response.headers.get(key) for key in DATA_HEADERS} == DATA_HEADERS
    assert "X-Frame-Options" not in response.headers  # the CSP's frame-ancestors says it


async def test_html_response_gets_page_headers_and_no_data_csp(probe_client: Client) -> None:
    response = await probe_client.get("/probes/page")
    assert (response.status_code, response.mimetype) == (200, "text/html")
    assert {key: response.headers.get(key) for key in PAGE_HEADERS} == PAGE_HEADERS
    assert "Content-Security-Policy" not in response.headers


async def test_header_set_by_the_view_wins(probe_client: Client) -> None:
    response = await probe_client.get("/probes/framed")
    assert response.headers.getlist("Content-Security-Policy") == ["frame-ancestors 'self'"]
    assert response.headers["X-Content-Type-Options"] == "nosniff"


async def test_cors_off_by_default(client: Client) -> None:
    response = await client.get("/", headers={"Origin": "https://app.example.com"})
    assert response.status_code == 200
    assert "Access-Control-Allow-Origin" not in response.headers


async def test_cors_allows_configured_origins() -> None:
    app = create_app(settings={"CORS_ALLOWED_ORIGINS": ["https://app.example.com"]})
    async with app.test_app():
        client = app.test_client()
        allowed = await client.get("/", headers={"Origin": "https://app.example.com"})
        other = await client.get("/", headers={"Origin": "https://evil.example.com"})
        preflight = await client.options(
            "/", headers={"Origin": "https://app.example.com", "Access-Control-Request-Method": "GET"}
        )
    assert (allowed.status_code, allowed.headers["Access-Control-Allow-Origin"]) == (200, "https://app.example.com")
    assert "Access-Control-Allow-Origin" not in other.headers
    assert preflight.headers["Access-Control-Allow-Origin"] == "https://app.example.com"
    assert "GET" in preflight.headers["Access-Control-Allow-Methods"]


def test_debug_is_off_unless_set() -> None:
    assert create_app().debug is False
