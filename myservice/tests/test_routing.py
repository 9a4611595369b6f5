"""Routing hardened for the internet: a bad Host is a 400, an unknown method a 501, the map's redirects relative."""

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


@pytest.mark.parametrize("method", ["FOO", "PROPFIND", "get", "TRACE", "CONNECT", "X" * 1000])
@pytest.mark.parametrize("path", ["/healthz", "/no/such/route"])
async def test_unknown_method_is_a_501(client: Client, method: str, path: str) -> None:
    """A method outside GET, HEAD, POST, PUT, DELETE, OPTIONS, PATCH (case counts) is a 501, on any path."""
    response = await client.open(path, method=method)  # type: ignore[call-arg]  # the protocol omits json's default
    body = await assert_problem(response, 501, "The request method is not one this service implements")
    assert method not in str(body)  # not echoed: it may be long
    assert "Allow" not in response.headers


@pytest.mark.parametrize(
    ("path", "query", "location"),
    [
        ("/probes/folder", {}, "/probes/folder/"),
        ("/probes/folder", {"a": "1", "b": "//x"}, "/probes/folder/?a=1&b=%2F%2Fx"),
        ("//probes//folder/", {}, "/probes/folder/"),
        ("/probes/folder/1", {}, "/probes/folder/"),
    ],
)
async def test_redirects_stay_on_the_host_they_came_to(
    probe_client: Client, path: str, query: dict[str, str], location: str
) -> None:
    """Slash, merged-slash and default-value redirects are relative: no client-chosen Host in Location."""
    response = await probe_client.get(path, query_string=query, headers={"Host": "evil.example"})
    assert (response.status_code, response.headers["Location"]) == (308, location)
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert "evil.example" not in await response.get_data(as_text=True)


async def test_redirect_keeps_the_root_path(probe_client: Client) -> None:
    """Behind a proxy's path prefix (ROOT_PATH), the relative Location keeps the prefix."""
    response = await probe_client.get("/api/probes/folder", root_path="/api", headers={"Host": "evil.example"})
    assert (response.status_code, response.headers["Location"]) == (308, "/api/probes/folder/")


def test_url_map_is_replaced_before_any_route_only() -> None:
    """routing.init_app refuses to run once a route exists: replacing the map would drop it."""
    app = Quart(__name__)
    app.add_url_rule("/", "home", lambda: "")
    with pytest.raises(RuntimeError, match="routing.init_app must come before any route is added"):
        routing.init_app(app)
