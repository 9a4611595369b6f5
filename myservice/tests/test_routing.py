"""Routing hardened for the internet: a bad Host is a 400."""

from __future__ import annotations

import pytest
from quart import Quart
from quart.typing import TestClientProtocol as Client

from myservice import routing

from .helpers import assert_problem

SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "Content-Security-Policy": "default-src 'none'; frame-ancestors 'none'",
}


@pytest.mark.parametrize("host", ["a..b", "x" * 64 + ".example", ".example", "a..b:8000"])
async def test_host_that_is_no_host_name_is_a_400(client: Client, host: str) -> None:
    """A Host werkzeug cannot encode as IDNA (empty or 64-character label) is a 400 problem, not a bare 500."""
    response = await client.get("/healthz", headers={"Host": host})
    await assert_problem(response, 400, "The Host header is not a valid host name.")
    assert {key: response.headers.get(key) for key in SECURITY_HEADERS} == SECURITY_HEADERS


@pytest.mark.parametrize("host", ["x" * 63 + ".example", "bücher.example", "127.0.0.1:8000", "[::1]:8000"])
async def test_unusual_but_valid_host_is_served(client: Client, host: str) -> None:
    """A 63-character label, an international name, an address with a port: all served as usual."""
    response = await client.get("/healthz", headers={"Host": host})
    assert (response.status_code, await response.get_json()) == (200, {"status": "ok"})
    assert response.headers["X-Content-Type-Options"] == "nosniff"


def test_url_map_is_replaced_before_any_route_only() -> None:
    """routing.init_app refuses to run once a route exists: replacing the map would drop it."""
    app = Quart(__name__)
    app.add_url_rule("/", "home", lambda: "")
    with pytest.raises(RuntimeError, match="routing.init_app must come before any route is added"):
        routing.init_app(app)
