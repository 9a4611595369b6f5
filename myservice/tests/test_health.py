"""The health blueprint: liveness, readiness checks, and readiness during shutdown."""

from __future__ import annotations

import asyncio
import os
import signal
from collections.abc import Iterator
from types import FrameType

import pytest
from quart import Quart
from quart.typing import TestClientProtocol as Client

from myservice import create_app
from myservice.readiness import add_readiness_check

SHUTTING_DOWN = {"status": "shutting down", "checks": {}, "failing": []}


async def passing() -> None:
    """A check that passes by returning."""


async def returning_false() -> bool:
    return False


async def raising() -> None:
    raise ConnectionRefusedError("db:5432")


async def hanging() -> None:
    await asyncio.sleep(5)


async def test_get_healthz(client: Client) -> None:
    response = await client.get("/healthz")
    assert (response.status_code, response.content_type) == (200, "application/json")
    assert await response.get_json() == {"status": "ok"}


async def test_readyz_checks_the_database_out_of_the_box(client: Client) -> None:
    response = await client.get("/readyz")
    assert (response.status_code, await response.get_json()) == (200, {"status": "ok", "checks": {"database": "ok"}})


async def test_readyz_with_passing_checks(app: Quart, client: Client) -> None:
    add_readiness_check(app, "cache", passing)
    add_readiness_check(app, "queue", passing)
    response = await client.get("/readyz")
    assert response.status_code == 200
    assert await response.get_json() == {"status": "ok", "checks": {"database": "ok", "cache": "ok", "queue": "ok"}}


async def test_readyz_names_failing_checks(client: Client) -> None:
    app = create_app(settings={"READINESS_TIMEOUT": 0.05})
    for name, check in [("ok", passing), ("false", returning_false), ("raises", raising), ("hangs", hanging)]:
        add_readiness_check(app, name, check)
    async with app.test_app():
        response = await app.test_client().get("/readyz")
    assert (response.status_code, response.content_type) == (503, "application/json")
    assert await response.get_json() == {
        "status": "unavailable",
        "failing": ["false", "hangs", "raises"],
        "checks": {
            "database": "ok",
            "ok": "ok",
            "false": "failed",
            "raises": "error: ConnectionRefusedError",
            "hangs": "timed out after 0.05s",
        },
    }


async def test_checks_run_concurrently() -> None:
    app = create_app(settings={"READINESS_TIMEOUT": 0.3})
    for name in ["a", "b", "c", "d"]:
        add_readiness_check(app, name, hanging)
    async with app.test_app():
        started = asyncio.get_running_loop().time()
        response = await app.test_client().get("/readyz")
        elapsed = asyncio.get_running_loop().time() - started
    assert response.status_code == 503
    assert elapsed < 4 * 0.3


def test_check_names_are_unique() -> None:
    app = create_app()
    add_readiness_check(app, "cache", passing)
    with pytest.raises(ValueError, match="a readiness check named 'cache' is registered already"):
        add_readiness_check(app, "cache", passing)


async def test_readyz_fails_once_serving_stops() -> None:
    app = create_app()
    async with app.test_app():
        assert (await app.test_client().get("/readyz")).status_code == 200
    response = await app.test_client().get("/readyz")
    assert (response.status_code, await response.get_json()) == (
        503,
        {"status": "shutting down", "checks": {}, "failing": []},
    )


class ServerHandler:
    """Stands in for a server's SIGTERM handler (as quart run and Hypercorn install); records calls."""

    def __init__(self) -> None:
        self.calls: list[int] = []

    def __call__(self, signum: int, frame: FrameType | None) -> None:
        self.calls.append(signum)


@pytest.fixture(name="server_handler")
def _server_handler() -> Iterator[ServerHandler]:
    handler = ServerHandler()
    previous = signal.signal(signal.SIGTERM, handler)
    yield handler
    signal.signal(signal.SIGTERM, previous)


async def test_sigterm_fails_readyz_first_and_reaches_the_server(server_handler: ServerHandler) -> None:
    app = create_app()
    async with app.test_app():
        client = app.test_client()
        assert (await client.get("/readyz")).status_code == 200
        os.kill(os.getpid(), signal.SIGTERM)
        await asyncio.sleep(0)
        response = await client.get("/readyz")
        assert (response.status_code, await response.get_json()) == (
            503,
            {"status": "shutting down", "checks": {}, "failing": []},
        )
        assert server_handler.calls == [signal.SIGTERM]
        assert (await client.get("/healthz")).status_code == 200
    assert signal.getsignal(signal.SIGTERM) is server_handler


async def test_sigterm_left_alone_without_a_server_handler() -> None:
    previous = signal.getsignal(signal.SIGTERM)
    assert previous == signal.SIG_DFL
    app = create_app()
    async with app.test_app():
        assert signal.getsignal(signal.SIGTERM) == signal.SIG_DFL
