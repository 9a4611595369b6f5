"""Rate limits: the default and a route's own, exemptions, keys (subject, peer, X-Forwarded-For), 429 and its
headers, the Redis store (keys that expire, Redis down or stopped) and the limits held across two workers."""

from __future__ import annotations

import asyncio
import http.client
import json
import logging
import shutil
import socket
import subprocess
import time
from collections.abc import AsyncIterator, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager, contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import redis
from quart import Blueprint, Quart
from quart.typing import TestClientProtocol as Client
from quart_rate_limiter import QUART_RATE_LIMITER_EXEMPT_ATTRIBUTE, RateLimiter

from myservice import create_app, limit_stores, limits, metrics
from myservice.auth import public, require_scopes
from myservice.limit_stores import STORAGE_TIMEOUT, MemoryStore
from myservice.limits import rate_limit
from myservice.settings import SettingsError
from myservice.views import find_blueprints

from .helpers import assert_problem, free_port, lane_command, lane_env, serving, stop
from .tokens import bearer

# Every exempt route, by endpoint: exempting one more is a decision this list makes visible.
EXEMPT = {"health.get_healthz", "health.get_readyz", "metrics.get_metrics"}
PEER = {"client": ("192.0.2.1", 50000)}  # a socket peer, which the test client has none of
RATE_HEADERS = ("RateLimit-Limit", "RateLimit-Remaining", "RateLimit-Reset")

widgets = Blueprint("widgets", __name__)


@widgets.get("/widgets/own")
@public
@rate_limit("3/minute")
async def get_own() -> dict[str, str]:
    """A route with its own limit."""
    return {}


@widgets.get("/widgets/mine")
@require_scopes("widgets:read")
async def get_mine() -> dict[str, str]:
    """A route for callers with a token: counted by subject."""
    return {}


@asynccontextmanager
async def started(**settings: object) -> AsyncIterator[Client]:
    """A client of the started service (plus the widgets) with `settings`."""
    app = create_app(blueprints=[*find_blueprints(), widgets], settings={"TESTING": True, **settings})
    async with app.test_app():
        yield app.test_client()


async def statuses(client: Client, path: str, count: int, **options: object) -> list[int]:
    """The statuses of `count` GET `path` in a row."""
    return [(await client.get(path, **options)).status_code for _ in range(count)]


async def test_past_the_default_limit_a_429_problem_with_retry_after_and_ratelimit_headers() -> None:
    async with started(RATE_LIMIT_DEFAULT="2/minute") as client:
        first, second, third = [await client.get("/", scope_base=PEER) for _ in range(3)]
    assert (first.status_code, second.status_code) == (200, 200)
    assert [first.headers[name] for name in RATE_HEADERS] == ["2", "1", "30"]
    assert [second.headers[name] for name in RATE_HEADERS] == ["2", "0", "60"]
    await assert_problem(third, 429, "Too many requests: retry after 30 s.")
    assert third.headers["Retry-After"] == "30"
    assert [third.headers[name] for name in RATE_HEADERS] == ["2", "0", "60"]


async def test_a_routes_own_limit_replaces_the_default() -> None:
    """@rate_limit("3/minute") under a default of 1/minute: three allowed (the default is not added to it)."""
    async with started(RATE_LIMIT_DEFAULT="1/minute") as client:
        assert await statuses(client, "/widgets/own", 4, scope_base=PEER) == [200, 200, 200, 429]
        response = await client.get("/", scope_base=PEER)
    assert (response.status_code, response.headers["RateLimit-Limit"]) == (200, "1")


@pytest.mark.parametrize("path", ["/healthz", "/readyz", "/metrics"])
async def test_probes_and_metrics_are_exempt(path: str) -> None:
    async with started(RATE_LIMIT_DEFAULT="1/minute") as client:
        responses = [await client.get(path, scope_base=PEER) for _ in range(3)]
    assert [response.status_code for response in responses] == [200] * 3
    assert not any(name in response.headers for response in responses for name in RATE_HEADERS)


async def test_every_route_is_limited_or_exempt(app: Quart) -> None:
    """Each route of the service (those the scaffolds add too) has limits, or is in EXEMPT; EXEMPT is exact."""
    limiter = app.extensions[limits.KEY]
    exempt, unlimited = set(), []
    for rule in app.url_map.iter_rules():
        view = app.view_functions[rule.endpoint]
        if getattr(view, QUART_RATE_LIMITER_EXEMPT_ATTRIBUTE, False):
            exempt.add(rule.endpoint)
        elif not limiter.limits_of(view, app.blueprints.get(rule.endpoint.rpartition(".")[0])):
            unlimited.append(rule.rule)
    assert unlimited == [], f"routes neither limited nor exempt: {unlimited}"
    assert exempt == EXEMPT, "exempt routes differ from EXEMPT in test_limits.py: list a new one there"


@pytest.mark.parametrize("name", limits.REPLACED)
def test_a_release_without_a_replaced_method_stops_the_start(name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """limits.Limiter replaces private methods of quart-rate-limiter: a release that renames one fails loudly."""
    monkeypatch.delattr(RateLimiter, name)
    with pytest.raises(RuntimeError, match=f"replaces RateLimiter.{name}, which this release lacks"):
        create_app()


async def test_the_key_is_the_socket_peer_whatever_x_forwarded_for_says() -> None:
    """With no trusted hops a client cannot pick its own key by sending X-Forwarded-For."""
    async with started(RATE_LIMIT_DEFAULT="1/minute") as client:
        spoofed = [{"X-Forwarded-For": f"203.0.113.{n}"} for n in range(3)]
        got = [(await client.get("/", headers=headers, scope_base=PEER)).status_code for headers in spoofed]
        other_peer = await client.get("/", scope_base={"client": ("192.0.2.2", 50000)})
    assert (got, other_peer.status_code) == ([200, 429, 429], 200)


@pytest.mark.parametrize(
    ("hops", "forwarded", "same_caller"),
    [
        (1, ["203.0.113.7", "198.51.100.1, 203.0.113.7"], True),  # what the client prepends is ignored
        (1, ["203.0.113.7", "203.0.113.8"], False),
        (2, ["198.51.100.1, 203.0.113.7, 10.0.0.1", "198.51.100.2, 203.0.113.7, 10.0.0.2"], True),
        (2, ["203.0.113.7, 10.0.0.1", "203.0.113.8, 10.0.0.1"], False),
        (2, ["203.0.113.7", "203.0.113.8"], True),  # too few entries: not through the proxies, the peer
    ],
)
async def test_behind_trusted_proxies_the_key_is_the_address_the_outermost_wrote(
    hops: int, forwarded: list[str], same_caller: bool
) -> None:
    async with started(RATE_LIMIT_DEFAULT="1/minute", RATE_LIMIT_TRUSTED_HOPS=hops) as client:
        got = [
            (await client.get("/", headers={"X-Forwarded-For": value}, scope_base=PEER)).status_code
            for value in forwarded
        ]
    assert got == ([200, 429] if same_caller else [200, 200])


async def test_an_authenticated_caller_is_counted_by_subject_wherever_it_calls_from() -> None:
    """The key of a caller with a valid token is its subject (a real token of the test issuer), not its address."""
    async with started(RATE_LIMIT_DEFAULT="1/minute") as client:
        alice = bearer("widgets:read", subject="alice")
        from_two_peers = [
            (await client.get("/widgets/mine", headers=alice, scope_base={"client": (f"192.0.2.{n}", 1)})).status_code
            for n in (10, 11)
        ]
        bob = bearer("widgets:read", subject="bob")
        same_peer = await client.get("/widgets/mine", headers=bob, scope_base={"client": ("192.0.2.10", 1)})
    assert from_two_peers == [200, 429]
    assert same_peer.status_code == 200


async def test_limited_routes_document_their_429_and_exempt_routes_do_not() -> None:
    async with started(RATE_LIMIT_DEFAULT="1/minute") as client:
        document = await (await client.get("/openapi.json")).get_json()
        await client.get("/", scope_base=PEER)
        too_many = await client.get("/", scope_base=PEER)
    answer = document["paths"]["/"]["get"]["responses"]["429"]
    assert answer["description"] == limits.TOO_MANY
    assert answer["content"] == {"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}}
    assert set(answer["headers"]) == {"Retry-After", *RATE_HEADERS}
    assert {name.lower() for name in answer["headers"]} <= {name.lower() for name in dict(too_many.headers)}
    assert "429" not in document["paths"]["/healthz"]["get"]["responses"]


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        ("RATE_LIMIT_DEFAULT", "100/minutes", "has value '100/minutes': expected <requests>/<period>"),
        ("RATE_LIMIT_DEFAULT", "0/second", "has value '0/second': expected <requests>/<period>, a whole number"),
        ("RATE_LIMIT_STORAGE_URL", "http://:hunter2@cache:6379", "has value <secret>: expected nothing"),
        ("RATE_LIMIT_STORAGE_URL", "redis://:hunter2@/0", "has value <secret>: expected nothing"),
        ("RATE_LIMIT_STORAGE_URL", "redis://cache:port", "has value <secret>: expected nothing"),
        ("RATE_LIMIT_STORAGE_URL", "redis://cache/zero", "has value <secret>: the path of a Redis URL is a database"),
        ("RATE_LIMIT_TRUSTED_HOPS", -1, "has value -1; expected an integer >= 0"),
        ("RATE_LIMIT_ON_STORAGE_ERROR", "ajar", "has value 'ajar'; expected one of open, closed"),
    ],
)
def test_bad_rate_limit_settings_are_refused_in_one_line(key: str, value: object, message: str) -> None:
    with pytest.raises(SettingsError) as raised:
        create_app(settings={key: value})
    assert str(raised.value) == f"settings argument: {key} {message}" or message in str(raised.value)
    assert "hunter2" not in str(raised.value)
    assert "\n" not in str(raised.value)


@pytest.mark.parametrize(
    "url", ["redis://cache", "rediss://:secret@cache.internal:6380/3", "redis://user:pw@10.0.0.5/"]
)
def test_redis_urls_are_accepted(url: str) -> None:
    assert create_app(settings={"RATE_LIMIT_STORAGE_URL": url}).config["RATE_LIMIT_STORAGE_URL"] == url


async def test_the_memory_store_drops_passed_times_as_it_grows() -> None:
    """Without this, each new address would stay in memory for ever."""
    store, now = MemoryStore(), datetime.now(UTC)
    for n in range(5000):
        await store.set(f"old-{n}", now - timedelta(seconds=1))
    await store.set("current", now + timedelta(minutes=1))
    assert len(store.tats) < 2048
    assert await store.get("current", now) == now + timedelta(minutes=1)


@contextmanager
def redis_server() -> Iterator[tuple[int, subprocess.Popen[str]]]:
    """A redis-server of the test's own on a free port, without persistence; stopped afterwards."""
    if shutil.which("redis-server") is None:
        pytest.skip("redis-server is not installed")
    port = free_port()
    command = ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
    process = subprocess.Popen(
        command, text=True, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True
    )
    try:
        client = redis.Redis(port=port, socket_timeout=1)
        deadline = time.monotonic() + 10
        while not _answers(client) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert _answers(client), "redis-server did not answer within 10 s"
        yield port, process
    finally:
        stop(process)


def _answers(client: redis.Redis) -> bool:
    try:
        return bool(client.ping())
    except redis.ConnectionError:
        return False


async def test_redis_keys_expire_when_their_period_has_passed() -> None:
    with redis_server() as (port, _):
        async with started(
            RATE_LIMIT_DEFAULT="2/second", RATE_LIMIT_STORAGE_URL=f"redis://127.0.0.1:{port}/0"
        ) as client:
            responses = [await client.get("/", scope_base=PEER) for _ in range(3)]
            keys = redis.Redis(port=port, decode_responses=True)
            assert [response.status_code for response in responses] == [200, 200, 429]
            assert [responses[0].headers[name] for name in RATE_HEADERS] == ["2", "1", "1"]
            [key] = [str(found) for found in keys.keys("*")]
            assert key.endswith("-home.get_home-2-1.0-ip:192.0.2.1")
            assert 0 < keys.pttl(key) <= 1000
            time.sleep(1.1)
            assert keys.keys("*") == []
            assert await statuses(client, "/", 1, scope_base=PEER) == [200]


@pytest.mark.parametrize("store", ["memory", "redis"])
async def test_a_burst_of_parallel_requests_gets_exactly_the_limit(store: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """Each request is checked and counted in one step: parallel requests cannot all read the same count."""
    # 20 connections opened at once on a busy machine can take more than 0.25 s, and a store that times out
    # lets requests through (fail open): this test is about counting, so the store gets time.
    monkeypatch.setattr(limit_stores, "STORAGE_TIMEOUT", 5.0)
    with redis_server() as (port, _):
        url = f"redis://127.0.0.1:{port}/0" if store == "redis" else ""
        async with started(RATE_LIMIT_DEFAULT="5/minute", RATE_LIMIT_STORAGE_URL=url) as client:
            burst = await asyncio.gather(*(client.get("/", scope_base=PEER) for _ in range(20)))
    assert sorted(response.status_code for response in burst) == [200] * 5 + [429] * 15


def store_errors() -> float:
    """How many rate limit store calls have failed in this process."""
    (counter,) = metrics.RATE_LIMIT_STORE_ERRORS.collect()
    return sum(sample.value for sample in counter.samples if sample.name.endswith("_total"))


async def test_redis_down_fails_open_logged_once_counted_each_time(caplog: pytest.LogCaptureFixture) -> None:
    """Nothing listens at the port: every request is let through, without RateLimit headers."""
    before = store_errors()
    url = f"redis://127.0.0.1:{free_port()}/0"
    with caplog.at_level(logging.ERROR, "myservice.limits"):
        async with started(RATE_LIMIT_DEFAULT="1/minute", RATE_LIMIT_STORAGE_URL=url) as client:
            responses = [await client.get("/", scope_base=PEER) for _ in range(3)]
    assert [response.status_code for response in responses] == [200, 200, 200]
    assert not any(name in response.headers for response in responses for name in RATE_HEADERS)
    assert store_errors() == before + 3  # one per request: the store is not asked again in the same request
    [record] = [record for record in caplog.records if record.name == "myservice.limits"]
    assert "Rate limit store failed (ConnectionError" in record.getMessage()
    assert record.getMessage().endswith("letting requests through unlimited")


async def test_redis_down_fails_closed_with_503_when_so_set() -> None:
    url = f"redis://127.0.0.1:{free_port()}/0"
    async with started(RATE_LIMIT_STORAGE_URL=url, RATE_LIMIT_ON_STORAGE_ERROR="closed") as client:
        response = await client.get("/", scope_base=PEER)
        healthz = await client.get("/healthz", scope_base=PEER)
    await assert_problem(response, 503, "The rate limit store does not answer; the request was not handled.")
    assert response.headers["Retry-After"] == "5"
    assert not any(name in response.headers for name in RATE_HEADERS)
    assert healthz.status_code == 200  # exempt: never asks the store


async def test_a_redis_that_never_answers_holds_a_request_only_the_timeout() -> None:
    """A port that takes connections and never answers (a hung Redis): each request waits STORAGE_TIMEOUT once."""
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(16)
        url = f"redis://127.0.0.1:{silent.getsockname()[1]}/0"
        async with started(RATE_LIMIT_STORAGE_URL=url) as client:
            began = time.monotonic()
            response = await client.get("/", scope_base=PEER)
            took = time.monotonic() - began
    assert response.status_code == 200
    assert STORAGE_TIMEOUT <= took < 2 * STORAGE_TIMEOUT + 0.5


@pytest.mark.parametrize(("on_error", "while_down"), [("open", 200), ("closed", 503)])
async def test_redis_stopped_mid_test_then_back(on_error: str, while_down: int) -> None:
    """Limits hold while Redis runs, the setting decides while it is stopped, and they hold again once it is back."""
    with redis_server() as (port, process):
        settings = {"RATE_LIMIT_STORAGE_URL": f"redis://127.0.0.1:{port}/0", "RATE_LIMIT_ON_STORAGE_ERROR": on_error}
        async with started(RATE_LIMIT_DEFAULT="2/minute", **settings) as client:
            assert await statuses(client, "/", 3, scope_base=PEER) == [200, 200, 429]
            document = await (await client.get("/openapi.json", scope_base=PEER)).get_json()
            stop(process)
            started_at = time.monotonic()
            assert await statuses(client, "/", 3, scope_base=PEER) == [while_down] * 3
            assert time.monotonic() - started_at < 3 * STORAGE_TIMEOUT + 1  # bounded, never hanging
            with redis_server_on(port):
                assert await statuses(client, "/", 3, scope_base=PEER) == [200, 200, 429]  # an empty Redis
    documented = document["paths"]["/"]["get"]["responses"]
    assert documented.get("503", {}).get("headers") == (limits.HEADERS[503] if on_error == "closed" else None)


@contextmanager
def redis_server_on(port: int) -> Iterator[None]:
    """A redis-server again on `port`, stopped afterwards."""
    command = ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
    process = subprocess.Popen(
        command, text=True, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True
    )
    try:
        client, deadline = redis.Redis(port=port, socket_timeout=1), time.monotonic() + 10
        while not _answers(client) and time.monotonic() < deadline:
            time.sleep(0.05)
        yield
    finally:
        stop(process)


LANE_DB = {"hypercorn": 14, "uvicorn": 15}  # a Redis database per lane: its keys are this test's alone


def connections_to_each_worker(port: int, workers: int = 2) -> list[http.client.HTTPConnection]:
    """A kept-alive connection to each worker of the server: opened 8 at a time until each worker (the last
    may still be starting) has one."""
    found: dict[int, http.client.HTTPConnection] = {}
    for _ in range(40):
        time.sleep(0.25 * bool(found))
        with ThreadPoolExecutor(8) as pool:
            for pid, connection in pool.map(lambda _: _connect(port), range(8)):
                found.setdefault(pid, connection)
                if found[pid] is not connection:
                    connection.close()
        if len(found) == workers:
            return list(found.values())
    raise AssertionError(f"connections reached only the workers {list(found)}")


def _connect(port: int) -> tuple[int, http.client.HTTPConnection]:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    return int(json.loads(_send(connection, "/probes/pid")[1])["pid"]), connection


def _send(connection: http.client.HTTPConnection, path: str) -> tuple[int, bytes]:
    connection.request("GET", path)
    response = connection.getresponse()
    return response.status, response.read()


@pytest.mark.slow
@pytest.mark.parametrize("lane", ["hypercorn", "uvicorn"])
def test_limits_hold_across_workers(lane: str, tmp_path: Path) -> None:
    """Two workers on the Redis at 127.0.0.1:6379, asked in turn: N allowed in all, then 429; keys expire."""
    shared = redis.Redis(port=6379, db=LANE_DB[lane], socket_timeout=2, decode_responses=True)
    if not _answers(shared):
        pytest.skip("no Redis answers at 127.0.0.1:6379 (the CI machine has one)")
    pattern = "*-probes.get_request_id-*"
    shared.delete(*shared.keys(pattern) or ["none"])
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    redis_url = f"redis://127.0.0.1:6379/{LANE_DB[lane]}"
    env = lane_env(port, MYSERVICE_RATE_LIMIT_STORAGE_URL=redis_url, MYSERVICE_RATE_LIMIT_DEFAULT="20/minute")
    with serving(lane_command(lane), f"{url}/healthz", env=env, cwd=tmp_path):
        connections = connections_to_each_worker(port)
        got = [_send(connections[n % 2], "/probes/request-id")[0] for n in range(30)]
        for connection in connections:
            connection.close()
    keys = shared.keys(pattern)
    ttls = [shared.pttl(key) for key in keys]
    shared.delete(*keys or ["none"])
    assert got == [200] * 20 + [429] * 10  # each worker answered 10 of the 200s and 5 of the 429s
    assert len(keys) == 1, keys
    assert 0 < ttls[0] <= 60_000, ttls
