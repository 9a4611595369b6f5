"""Calls to other services, through the real client to a real server on 127.0.0.1 that injects faults
(see downstream.py): retries, deadlines, ids, errors as problems, metrics, the client's lifespan.

Timings are measured with margins for a busy two-core machine: a deadline must hold (never early,
and not more than MARGIN late), and a wait must be at least what was asked.
"""

from __future__ import annotations

import asyncio
import email.utils
import logging
import math
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AsyncExitStack
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families
from quart import Response
from quart.typing import TestClientProtocol as Client

from myservice import __version__, client
from myservice.client import BAD_DEADLINE, KEY, UnknownServiceError, service
from myservice.settings import ENV_PREFIX, SERVICE

from .downstream import NAME, Downstream, answer, create_calls_app, hang, malformed, reset
from .helpers import assert_problem, free_port, get, lane_command, lane_env, serving, wait_for

MARGIN = 0.75  # seconds a deadline may be overrun by a loaded machine's scheduling, never more
FAST = {"connect_timeout": 0.5, "read_timeout": 2.0, "timeout": 3.0, "retries": 2}
Start = Callable[..., Awaitable[Client]]


@pytest.fixture(name="downstream")
async def _downstream() -> AsyncIterator[Downstream]:
    """The fault-injecting server, listening on 127.0.0.1 for the test."""
    server = Downstream()
    await server.start()
    yield server
    await server.stop()


@pytest.fixture(name="start")
async def _start(downstream: Downstream) -> AsyncIterator[Start]:
    """Start the relay app with the downstream's fields over FAST; it is stopped after the test."""
    async with AsyncExitStack() as stack:

        async def start(**fields: object) -> Client:
            services = {NAME: {"url": downstream.url, **FAST, **fields}}
            app = create_calls_app({"TESTING": True, "SERVICES": services})
            await stack.enter_async_context(app.test_app())  # type: ignore[arg-type]  # typed as a Protocol without it
            return app.test_client()

        yield start


async def timed(call: Awaitable[Response]) -> tuple[Response, float]:
    """The answer to `call`, and the seconds it took."""
    started = time.perf_counter()
    response = await call
    return response, time.perf_counter() - started


async def test_call_carries_request_id_user_agent_and_deadline(start: Start, downstream: Downstream) -> None:
    """The downstream gets the request's id, a User-Agent naming this service and its version, and the time left."""
    relay = await start(timeout=3.0)
    response = await relay.get("/calls/items/7", headers={"X-Request-ID": "caller-id-1"})
    assert (response.status_code, await response.get_json()) == (200, {"status": 200, "body": "{}"})
    received = downstream.received[0]
    assert (received.method, received.path) == ("GET", "/items/7")
    assert received.headers["x-request-id"] == response.headers["X-Request-ID"] == "caller-id-1"
    assert received.headers["user-agent"] == f"{SERVICE}/{__version__}"
    assert 3.0 - MARGIN < float(received.headers["x-request-timeout"]) <= 3.0


async def test_request_id_made_by_the_service_goes_out(start: Start, downstream: Downstream) -> None:
    """A request that came without an id calls out with the id the service gave it."""
    response = await (await start()).get("/calls/x")
    assert downstream.received[0].headers["x-request-id"] == response.headers["X-Request-ID"]


async def test_base_url_path_is_kept(start: Start, downstream: Downstream) -> None:
    """A base URL with a path prefixes every call's path, which cannot leave it."""
    relay = await start(url=f"{downstream.url}/api/")
    await relay.get("/calls/items/7")
    await relay.get("/calls/http:/elsewhere/x")
    assert [received.path for received in downstream.received] == ["/api/items/7", "/api/http:/elsewhere/x"]


@pytest.mark.parametrize("method", ["GET", "HEAD", "PUT", "DELETE", "OPTIONS"])
async def test_idempotent_call_is_retried_after_503(start: Start, downstream: Downstream, method: str) -> None:
    """An idempotent call answered 503 twice is sent a third time, and the view gets the 200."""
    downstream.script += [answer(503), answer(503)]
    response = await (await start()).open("/calls/x", method=method)  # type: ignore[call-arg]  # no json default
    assert response.status_code == 200
    assert [received.method for received in downstream.received] == [method] * 3


@pytest.mark.parametrize(
    "fault", [reset, malformed, answer(502), answer(504)], ids=["reset", "malformed", "502", "504"]
)
async def test_get_is_retried_after_a_fault(start: Start, downstream: Downstream, fault: object) -> None:
    """A reset connection, a malformed answer, a 502 or a 504 is retried, and the retry answers."""
    downstream.script.append(fault)  # type: ignore[arg-type]  # a Fault
    response = await (await start()).get("/calls/x")
    assert (response.status_code, (await response.get_json())["status"]) == (200, 200)
    assert len(downstream.received) == 2


@pytest.mark.parametrize("method", ["POST", "PATCH"])
@pytest.mark.parametrize("fault", [answer(503), reset], ids=["503", "reset"])
async def test_post_and_patch_are_not_retried(start: Start, downstream: Downstream, method: str, fault: object) -> None:
    """A POST or PATCH without an Idempotency-Key is sent once: its failure is a 502 at once."""
    downstream.script.append(fault)  # type: ignore[arg-type]  # a Fault
    response = await (await start()).open("/calls/orders", method=method, data=b"{}")  # type: ignore[call-arg]
    await assert_problem(response, 502, "The downstream service failed to answer.")
    assert len(downstream.received) == 1


async def test_post_with_idempotency_key_is_retried(start: Start, downstream: Downstream) -> None:
    """A POST with an Idempotency-Key is retried after a 503, with the same key and body."""
    downstream.script.append(answer(503))
    relay = await start()
    response = await relay.post("/calls/orders", data=b'{"n": 1}', headers={"Idempotency-Key": "k-1"})
    assert response.status_code == 200
    sent = [(received.method, received.headers["idempotency-key"], received.body) for received in downstream.received]
    assert sent == [("POST", "k-1", b'{"n": 1}')] * 2


async def test_500_is_not_retried(start: Start, downstream: Downstream) -> None:
    """A 500 says the request itself failed: it is not sent again, and is a 502."""
    downstream.script.append(answer(500))
    await assert_problem(await (await start()).get("/calls/x"), 502, "The downstream service failed to answer.")
    assert len(downstream.received) == 1


async def test_4xx_is_for_the_view(start: Start, downstream: Downstream) -> None:
    """A 404 is returned to the view, which decides; it is not retried."""
    downstream.script.append(answer(404, b'{"detail": "no such item"}'))
    response = await (await start()).get("/calls/x")
    assert await response.get_json() == {"status": 404, "body": '{"detail": "no such item"}'}
    assert len(downstream.received) == 1


async def test_503s_past_the_retries_are_a_502_problem(
    start: Start, downstream: Downstream, caplog: pytest.LogCaptureFixture
) -> None:
    """Three 503s with two retries make a 502 naming the service, with the request id and none of the URL;
    the log line has the URL and the answer."""
    downstream.script += [answer(503)] * 3
    response = await (await start(retries=2)).get("/calls/x")
    body = await assert_problem(response, 502, "The downstream service failed to answer.")
    assert body["service"] == NAME
    assert "127.0.0.1" not in str(body)
    assert str(downstream.port) not in str(body)
    assert len(downstream.received) == 3
    assert f"GET {downstream.url}/x failed after 3 attempts in" in caplog.text
    assert "answered 503" in caplog.text


async def test_unreachable_service_is_a_502_problem(start: Start, downstream: Downstream) -> None:
    """A service that refuses connections is a 502 naming it, after the retries."""
    port = free_port()
    body = await assert_problem(
        await (await start(url=f"http://127.0.0.1:{port}")).get("/calls/x"),
        502,
        "The downstream service could not be reached.",
    )
    assert str(port) not in str(body)


async def test_malformed_answers_past_the_retries_are_a_502(start: Start, downstream: Downstream) -> None:
    """A downstream that does not speak HTTP is a 502 once the retries are spent."""
    downstream.script += [malformed] * 3
    await assert_problem(await (await start()).get("/calls/x"), 502, "The downstream service failed to answer.")
    assert len(downstream.received) == 3


async def test_retry_after_seconds_is_honoured(start: Start, downstream: Downstream) -> None:
    """A 503 asking for Retry-After: 1 is retried a second later, not after the backoff's tenth of one."""
    downstream.script.append(answer(503, headers={"Retry-After": "1"}))
    response = await (await start(timeout=5.0)).get("/calls/x")
    assert response.status_code == 200
    (waited,) = downstream.waits()
    assert 1.0 <= waited < 1.0 + MARGIN


async def test_retry_after_date_is_honoured(start: Start, downstream: Downstream) -> None:
    """A 503 asking for Retry-After as an HTTP date is retried at that time (by the wall clock), not before."""
    target = math.floor(time.time()) + 2  # an HTTP date has whole seconds
    downstream.script.append(answer(503, headers={"Retry-After": email.utils.formatdate(target, usegmt=True)}))
    response = await (await start(timeout=5.0)).get("/calls/x")
    assert response.status_code == 200
    arrived = downstream.received[1].at + time.time() - asyncio.get_running_loop().time()  # on the wall clock
    assert target - 0.01 <= arrived < target + MARGIN  # 0.01: the two clocks, read a moment apart


async def test_retry_after_past_the_deadline_fails_at_once(start: Start, downstream: Downstream) -> None:
    """A Retry-After longer than the deadline leaves is not waited for: the call fails now."""
    downstream.script.append(answer(503, headers={"Retry-After": "30"}))
    relay = await start(timeout=2.0)
    response, seconds = await timed(relay.get("/calls/x"))
    await assert_problem(response, 502, "The downstream service failed to answer.")
    assert seconds < MARGIN
    assert len(downstream.received) == 1


async def test_deadline_holds_on_a_hang(start: Start, downstream: Downstream) -> None:
    """A downstream that never answers costs the call its deadline, not its longer read timeout: a 504."""
    downstream.script.append(hang)
    relay = await start(read_timeout=30.0, timeout=1.0)
    response, elapsed = await timed(relay.get("/calls/x"))
    body = await assert_problem(response, 504, "The downstream service did not answer in time.")
    assert 1.0 <= elapsed < 1.0 + MARGIN
    assert (body["service"], len(downstream.received)) == (NAME, 1)


async def test_read_timeout_ends_an_attempt_and_the_retry_answers(start: Start, downstream: Downstream) -> None:
    """Each attempt waits read_timeout for its answer; the call goes on within its deadline."""
    downstream.script += [hang, hang]
    relay = await start(read_timeout=0.3, timeout=5.0)
    response, elapsed = await timed(relay.get("/calls/x"))
    assert response.status_code == 200
    assert 0.6 <= elapsed < 0.6 + 2 * MARGIN  # two read timeouts, two waits of at most 0.1 and 0.2 s
    assert len(downstream.received) == 3


async def test_read_timeouts_past_the_retries_are_a_504(start: Start, downstream: Downstream) -> None:
    """When every attempt times out, the call is a 504."""
    downstream.script += [hang, hang]
    response = await (await start(read_timeout=0.2, retries=1)).get("/calls/x")
    await assert_problem(response, 504, "The downstream service did not answer in time.")
    assert len(downstream.received) == 2


async def test_callers_deadline_shortens_the_call(start: Start, downstream: Downstream) -> None:
    """X-Request-Timeout: 0.5 ends a call whose own deadline is 5 s after half a second, and goes out shortened."""
    downstream.script.append(hang)
    relay = await start(read_timeout=30.0, timeout=5.0)
    response, elapsed = await timed(relay.get("/calls/x", headers={"X-Request-Timeout": "0.5"}))
    await assert_problem(response, 504, "The downstream service did not answer in time.")
    assert 0.5 <= elapsed < 0.5 + MARGIN
    assert 0 < float(downstream.received[0].headers["x-request-timeout"]) <= 0.5


async def test_spent_callers_deadline_calls_nobody(start: Start, downstream: Downstream) -> None:
    """A caller's deadline already past when the view calls out is a 504 without a call."""
    response = await (await start()).get("/calls/x", headers={"X-Request-Timeout": "0.000001"})
    await assert_problem(response, 504, "The downstream service did not answer in time.")
    assert downstream.received == []


@pytest.mark.parametrize("value", ["soon", "0", "0.0", "-1", "nan", "inf", "1e3", "1,5", "", "1234567"])
async def test_malformed_callers_deadline_is_a_400(start: Start, downstream: Downstream, value: str) -> None:
    """An X-Request-Timeout that is not a number of seconds above 0 is a 400 naming the header; nobody is called."""
    response = await (await start()).get("/calls/x", headers={"X-Request-Timeout": value})
    await assert_problem(response, 400, BAD_DEADLINE)
    assert downstream.received == []


async def test_request_calling_nobody_ignores_the_deadline_header(client: Client) -> None:
    """X-Request-Timeout is read only when a call goes out: a malformed one costs other requests nothing."""
    response = await client.get("/", headers={"X-Request-Timeout": "soon"})
    assert response.status_code == 200


def client_samples(exposition: str) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    """The client's samples in a Prometheus exposition: (name, labels) -> value."""
    prefix = f"{SERVICE}_http_client_"
    return {
        (sample.name.removeprefix(prefix), frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(exposition)
        for sample in family.samples
        if sample.name.startswith(prefix)
    }


async def test_attempts_and_retries_are_counted(start: Start, downstream: Downstream) -> None:
    """Each attempt counts as a request with its status and duration, each retry as a retry."""
    relay = await start()
    before = client_samples(await (await relay.get("/metrics")).get_data(as_text=True))
    downstream.script += [answer(503), hang]
    await relay.put("/calls/x", headers={"X-Request-Timeout": "0.8"})  # 503, then cut by the deadline
    await relay.get("/calls/x")
    after = client_samples(await (await relay.get("/metrics")).get_data(as_text=True))
    service_label = ("service", NAME)
    expected = {
        ("requests_total", frozenset({service_label, ("method", "PUT"), ("status", "503")})): 1,
        ("requests_total", frozenset({service_label, ("method", "PUT"), ("status", "timeout")})): 1,
        ("requests_total", frozenset({service_label, ("method", "GET"), ("status", "200")})): 1,
        ("retries_total", frozenset({service_label, ("method", "PUT")})): 1,
        ("request_duration_seconds_count", frozenset({service_label})): 3,
    }
    assert {key: after.get(key, 0) - before.get(key, 0) for key in expected} == expected


async def test_each_attempt_is_logged_at_debug(
    start: Start, downstream: Downstream, caplog: pytest.LogCaptureFixture
) -> None:
    """One debug line per attempt names the service, the path, the attempt and its outcome."""
    caplog.set_level(logging.DEBUG, logger=client.logger.name)
    downstream.script.append(answer(503))
    await (await start()).get("/calls/items/7")
    lines = [record.getMessage() for record in caplog.records if record.name == client.logger.name]
    assert [line.partition(" in ")[0] for line in lines] == [
        f"GET {NAME} /items/7 attempt 1: 503",
        f"GET {NAME} /items/7 attempt 2: 200",
    ]


async def test_unknown_service_names_the_configured_ones(start: Start) -> None:
    """Asking for a service the settings do not name says which ones they do."""
    relay = await start()
    async with relay.app.app_context():
        with pytest.raises(
            UnknownServiceError,
            match="no service .nope. is open \\(they open before serving\\); SERVICES names downstream",
        ):
            service("nope")


async def test_no_client_without_services() -> None:
    """With SERVICES empty no client is opened, and a call out is an error naming none."""
    app = create_calls_app({"TESTING": True})
    async with app.test_app(), app.app_context():
        assert KEY not in app.extensions
        with pytest.raises(UnknownServiceError, match="SERVICES names none"):
            service(NAME)


async def test_connections_are_closed_after_serving(downstream: Downstream) -> None:
    """The client keeps its connection open between calls and closes it when serving stops."""
    app = create_calls_app({"TESTING": True, "SERVICES": {NAME: {"url": downstream.url}}})
    async with app.test_app():
        relay = app.test_client()
        await relay.get("/calls/x")
        await relay.get("/calls/x")
        assert (len(downstream.received), downstream.open_connections) == (2, 1)
    for _ in range(40):  # the server sees the close a moment later
        if downstream.open_connections == 0:
            break
        await asyncio.sleep(0.05)
    assert downstream.open_connections == 0


@pytest.mark.slow
async def test_calls_are_counted_across_two_workers(downstream: Downstream, tmp_path: Path) -> None:
    """Two Hypercorn workers, the downstream's URL from the environment: /metrics adds up both workers' calls."""
    port, shared = free_port(), tmp_path / "metrics"
    shared.mkdir()
    url = f"http://127.0.0.1:{port}"
    env = lane_env(
        port, PROMETHEUS_MULTIPROC_DIR=str(shared), **{f"{ENV_PREFIX}SERVICES__DOWNSTREAM__URL": downstream.url}
    )
    sent, labels = 0, frozenset({("service", NAME), ("method", "GET"), ("status", "200")})
    with serving(
        lane_command("hypercorn", f"{SERVICE}.tests.downstream:create_calls_app()"), f"{url}/healthz", env=env
    ):
        while sent < 40 or (sent < 400 and len({path.stem for path in shared.glob("counter_*.db")}) < 2):
            statuses = await asyncio.gather(*(asyncio.to_thread(get, f"{url}/calls/x") for _ in range(20)))
            assert [status for status, _, _ in statuses] == [200] * 20
            sent += 20

        def counted() -> float:
            return client_samples(get(f"{url}/metrics")[2].decode()).get(("requests_total", labels), 0)

        await asyncio.to_thread(wait_for, lambda: counted() == sent, 5)
    assert len({path.stem for path in shared.glob("counter_*.db")}) == 2, "both workers must have called"
    assert len(downstream.received) == sent
