"""Request ids: kept when sane, replaced otherwise, echoed, visible to views and in log records."""

from __future__ import annotations

import re

import pytest
from quart.typing import TestClientProtocol as Client

GENERATED = re.compile(r"[0-9a-f]{32}")


@pytest.mark.parametrize("incoming", ["abc-123", "0f8fad5b-d9cb-469f-a165-70867728950e", "a" * 128, "svc:1/2+3=4_5.6"])
async def test_sane_incoming_id_is_kept(probe_client: Client, incoming: str) -> None:
    response = await probe_client.get("/probes/request-id", headers={"X-Request-ID": incoming})
    assert response.headers["X-Request-ID"] == incoming
    assert await response.get_json() == {"request_id": incoming}


@pytest.mark.parametrize("incoming", ["", "a" * 129, "has space", 'quote"d', "new\\nline", "ünïcode"])
async def test_insane_incoming_id_is_replaced(probe_client: Client, incoming: str) -> None:
    response = await probe_client.get("/probes/request-id", headers={"X-Request-ID": incoming})
    assert GENERATED.fullmatch(response.headers["X-Request-ID"])
    assert await response.get_json() == {"request_id": response.headers["X-Request-ID"]}


async def test_each_request_gets_its_own_id(client: Client) -> None:
    first, second = await client.get("/"), await client.get("/")
    assert GENERATED.fullmatch(first.headers["X-Request-ID"])
    assert first.headers["X-Request-ID"] != second.headers["X-Request-ID"]


async def test_log_records_carry_the_id(probe_client: Client, caplog: pytest.LogCaptureFixture) -> None:
    await probe_client.get("/probes/request-id", headers={"X-Request-ID": "req-7"})
    stamped = {(record.name, getattr(record, "request_id", None)) for record in caplog.records}
    assert {("myservice", "req-7"), ("myservice.access", "req-7")} <= stamped
