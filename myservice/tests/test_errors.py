"""Every error response is application/problem+json (RFC 9457) and carries the request id."""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator

import pytest
from quart.typing import TestClientProtocol as Client

from myservice import create_app
from myservice.errors import nests_deeper

from .helpers import assert_problem
from .probes import create_probe_app


@pytest.fixture(name="roomy_client")
async def _roomy_client() -> AsyncIterator[Client]:
    """A client of the probe app with the default body limit (1 MiB), room for deep bodies."""
    app = create_probe_app({"TESTING": True})
    async with app.test_app():
        yield app.test_client()


def nested(depth: int, opener: str = "[", closer: str = "]") -> bytes:
    """A JSON text nesting `depth` arrays (or objects, given their brackets) around 0."""
    return (opener * depth + "0" + closer * depth).encode()


async def test_unknown_route(client: Client) -> None:
    await assert_problem(await client.get("/no/such/route"), 404, "not found on the server")


async def test_method_not_allowed_keeps_sorted_allow_header(client: Client) -> None:
    response = await client.delete("/")
    await assert_problem(response, 405, "method is not allowed")
    assert response.headers["Allow"] == "GET, HEAD, OPTIONS"


async def test_body_too_large(probe_client: Client) -> None:
    response = await probe_client.post("/probes/echo", json={"text": "x" * 100})
    await assert_problem(response, 413, "data value transmitted exceeds the capacity limit")


@pytest.mark.parametrize("data", [b"{not json", b'{"a": 1', b"\xff\xfe"])
async def test_malformed_json_body(probe_client: Client, data: bytes) -> None:
    response = await probe_client.post("/probes/echo", data=data, headers={"Content-Type": "application/json"})
    await assert_problem(response, 400, "The request body is not valid JSON: ")


@pytest.mark.parametrize(
    "data",
    [
        nested(100_000),  # a RecursionError in json.loads
        nested(65),
        ('{"a":' * 65 + "0" + "}" * 65).encode(),
        b"[" * 500_000,  # never closed
        ('[{"a":' * 40 + "0" + "}]" * 40).encode(),
    ],
)
async def test_too_deep_json_body(roomy_client: Client, data: bytes) -> None:
    """A body nesting arrays and objects deeper than 64 levels is a 400 problem, not a 500."""
    response = await roomy_client.post("/probes/echo", data=data, headers={"Content-Type": "application/json"})
    await assert_problem(response, 400, "The request body is not valid JSON: it nests arrays and objects deeper than")


@pytest.mark.parametrize(
    "data",
    [
        nested(64),
        ('{"a":' * 64 + "0" + "}" * 64).encode(),
        json.dumps({"text": "[{" * 1000 + '\\"]', "list": [[1], [2]] * 100}).encode(),
        json.dumps([{"id": number, "tags": [["a"]]} for number in range(1000)]).encode(),
    ],
)
async def test_json_body_within_the_depth_limit(roomy_client: Client, data: bytes) -> None:
    """64 levels are accepted; brackets in strings and side-by-side arrays do not add depth."""
    response = await roomy_client.post("/probes/echo", data=data, headers={"Content-Type": "application/json"})
    assert (response.status_code, await response.get_json()) == (200, {"received": json.loads(data)})


@pytest.mark.parametrize(
    ("text", "deeper"),
    [
        ('[["x\\\\",' + "[" * 3 + "0" + "]" * 5, True),  # an escaped backslash ends no string early
        ('["\\"[[[[[[",' + "[" * 2 + "0" + "]" * 3, False),  # an escaped quote ends no string
        ('{"[[[[[[": [[0]]}', False),  # brackets in a key
        ("[[[0]]]" * 3, False),  # side by side
    ],
)
def test_depth_counts_brackets_outside_strings_only(text: str, deeper: bool) -> None:
    """nests_deeper reads strings as JSON does: escapes included; here the limit is 3."""
    assert nests_deeper(text.encode(), 3) is deeper


async def test_valid_json_body(probe_client: Client) -> None:
    response = await probe_client.post("/probes/echo", json={"a": [1, 2]})
    assert (response.status_code, await response.get_json()) == (200, {"received": {"a": [1, 2]}})


@pytest.mark.parametrize("code", [400, 403, 409])
async def test_abort_in_a_view(probe_client: Client, code: int) -> None:
    await assert_problem(await probe_client.get(f"/probes/abort/{code}"), code, f"aborted with {code}")


async def test_unhandled_exception_is_a_generic_500(probe_client: Client, caplog: pytest.LogCaptureFixture) -> None:
    response = await probe_client.get("/probes/boom", headers={"X-Request-ID": "trace-500"})
    body = await assert_problem(response, 500, "logged under its request id")
    assert "secret" not in str(body)
    assert "Traceback" not in str(body)
    [record] = [record for record in caplog.records if record.name == "myservice.errors"]
    assert (record.levelno, record.request_id) == (logging.ERROR, "trace-500")  # type: ignore[attr-defined]
    assert record.exc_info
    assert "secret database password" in str(record.exc_info[1])


@pytest.mark.parametrize("debug", [False, True])
async def test_problem_body_is_compact_in_the_documented_order(debug: bool) -> None:
    """The bytes of a problem: no spaces, type, title, status, detail, request_id, in debug mode too."""
    app = create_app(blueprints=[], settings={"TESTING": True, "DEBUG": debug})
    async with app.test_app():
        response = await app.test_client().get("/nope", headers={"X-Request-ID": "raw-1"})
        body = await response.get_data(as_text=True)
    detail = "The requested URL was not found on the server. If you entered the URL manually please check your"
    assert body.startswith('{"type":"about:blank","title":"Not Found","status":404,"detail":"' + detail)
    assert body.endswith('again.","request_id":"raw-1"}\n')
    assert (response.status_code, response.content_type) == (404, "application/problem+json")
