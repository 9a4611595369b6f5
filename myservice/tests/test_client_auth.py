"""Tokens on calls to other services: a static one, or client credentials from a real token endpoint on
127.0.0.1 (a second fault-injecting server, see downstream.py), kept until shortly before expiry."""

from __future__ import annotations

import base64
import json
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from urllib.parse import parse_qs

import pytest
import yaml
from quart.typing import TestClientProtocol as Client

from myservice import create_app
from myservice.settings import ENV_PREFIX, SettingsError

from .downstream import NAME, Downstream, answer, create_calls_app, reset
from .helpers import assert_problem

CREDENTIALS = {"client_id": "me", "client_secret": "s3cret", "scope": "widgets:read", "audience": "widgets"}


def issued(token: str, expires_in: int = 3600) -> bytes:
    """A token endpoint's answer."""
    return json.dumps({"access_token": token, "token_type": "Bearer", "expires_in": expires_in}).encode()


@pytest.fixture(name="servers")
async def _servers() -> AsyncIterator[tuple[Downstream, Downstream]]:
    """The called service and the token endpoint, each a server on 127.0.0.1."""
    callee, issuer = Downstream(), Downstream()
    await callee.start()
    await issuer.start()
    yield callee, issuer
    await callee.stop()
    await issuer.stop()


@pytest.fixture(name="relay")
async def _relay(servers: tuple[Downstream, Downstream]) -> AsyncIterator[Client]:
    """The relay app, calling the callee with client credentials from the token endpoint."""
    callee, issuer = servers
    fields = {"url": callee.url, "retries": 0, "token_url": f"{issuer.url}/token", **CREDENTIALS}
    async with AsyncExitStack() as stack:
        app = create_calls_app({"TESTING": True, "SERVICES": {NAME: fields}})
        await stack.enter_async_context(app.test_app())  # type: ignore[arg-type]  # a Protocol without it
        yield app.test_client()


async def test_a_static_token_goes_on_every_call(servers: tuple[Downstream, Downstream]) -> None:
    callee, _ = servers
    app = create_calls_app({"TESTING": True, "SERVICES": {NAME: {"url": callee.url, "token": "abc"}}})
    async with app.test_app():
        assert (await app.test_client().get("/calls/items")).status_code == 200
    assert callee.received[0].headers["authorization"] == "Bearer abc"


async def test_client_credentials_are_exchanged_once_for_a_token_that_is_kept(
    relay: Client, servers: tuple[Downstream, Downstream]
) -> None:
    """The grant goes with HTTP Basic credentials (RFC 6749 2.3.1); the token serves both calls."""
    callee, issuer = servers
    issuer.script.append(answer(200, issued("first")))
    for _ in range(2):
        assert (await relay.get("/calls/items")).status_code == 200
    assert [request.headers["authorization"] for request in callee.received] == ["Bearer first"] * 2
    (grant,) = issuer.received
    assert (grant.method, grant.path) == ("POST", "/token")
    assert grant.headers["authorization"] == "Basic " + base64.b64encode(b"me:s3cret").decode()
    form = {key: values[0] for key, values in parse_qs(grant.body.decode()).items()}
    assert form == {"grant_type": "client_credentials", "scope": "widgets:read", "audience": "widgets"}


async def test_a_token_near_its_expiry_is_replaced(relay: Client, servers: tuple[Downstream, Downstream]) -> None:
    callee, issuer = servers
    issuer.script += [answer(200, issued("short", expires_in=10)), answer(200, issued("next"))]
    for _ in range(2):
        await relay.get("/calls/items")
    assert [request.headers["authorization"] for request in callee.received] == ["Bearer short", "Bearer next"]


async def test_a_refused_token_is_replaced_and_the_call_sent_again_once(
    relay: Client, servers: tuple[Downstream, Downstream]
) -> None:
    callee, issuer = servers
    issuer.script += [answer(200, issued("revoked")), answer(200, issued("fresh"))]
    callee.script += [answer(401), answer(401)]
    response = await relay.get("/calls/items")
    assert await response.get_json() == {"status": 401, "body": "{}"}  # the view sees the second 401
    assert [request.headers["authorization"] for request in callee.received] == ["Bearer revoked", "Bearer fresh"]
    assert len(issuer.received) == 2


@pytest.mark.parametrize("fault", [answer(503), answer(200, b'{"token_type": "Bearer"}'), reset])
async def test_no_token_from_the_endpoint_is_a_502_naming_the_service(
    relay: Client, servers: tuple[Downstream, Downstream], fault: object
) -> None:
    callee, issuer = servers
    issuer.script.append(fault)  # type: ignore[arg-type]  # a Fault
    response = await relay.get("/calls/items")
    body = await assert_problem(response, 502, f"The {NAME} service's token could not be obtained.")
    assert body["service"] == NAME
    assert callee.received == []


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"token": "a", "token_url": "http://issuer/token"}, "SERVICES.widgets sets both token and token_url"),
        ({"token_url": "http://issuer/token"}, "SERVICES.widgets sets token_url without client_id and client_secret"),
        ({"token_url": "issuer"}, "it is not an http:// or https:// URL"),
    ],
)
def test_half_set_credentials_stop_the_start(fields: dict[str, str], message: str) -> None:
    with pytest.raises(SettingsError, match=message):
        create_app(settings={"SERVICES": {"widgets": {"url": "http://widgets:8000", **fields}}})


def test_tokens_and_client_secrets_are_never_printed(monkeypatch: pytest.MonkeyPatch) -> None:
    """`quart settings` says that they are set, never what they are."""
    record = {"url": "http://w:1", "token": "t0p", **CREDENTIALS}
    monkeypatch.setenv(f"{ENV_PREFIX}SERVICES", json.dumps({"widgets": record}))
    output = create_app().test_cli_runner().invoke(args=["settings"]).output
    printed = yaml.safe_load(output)["SERVICES"]["widgets"]
    assert (printed["token"], printed["client_secret"], printed["client_id"]) == ("<secret>", "<secret>", "me")
