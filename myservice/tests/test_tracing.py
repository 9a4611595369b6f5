"""Tracing: off unless OTEL_* variables switch it on; then server spans named by route, client and database
spans, trace ids in the log lines, spans exported over OTLP/HTTP, one trace across two real services."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass

import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode
from quart import Quart
from quart.typing import TestClientProtocol as Client
from sqlalchemy import text

from myservice import create_app, database, tracing
from myservice.middleware import RequestMiddleware
from myservice.settings import ENV_PREFIX, SERVICE, SettingsError

from .downstream import NAME, Downstream, create_calls_app
from .helpers import ReceivedSpan, free_port, get, lane_command, lane_env, otlp_receiver, serving
from .probes import create_probe_app

TRACE_ID, PARENT_ID = "0af7651916cd43dd8448eb211c80319c", "b7ad6b7169203331"  # the W3C recommendation's example
TRACEPARENT = f"00-{TRACE_ID}-{PARENT_ID}-01"


@dataclass
class Traced:
    """A started app with tracing on, its test client, and the spans it ended so far."""

    app: Quart
    client: Client
    exporter: InMemorySpanExporter
    serving: bool = True

    def spans(self) -> list[ReadableSpan]:
        """The spans ended so far, in the order they ended."""
        return list(self.exporter.get_finished_spans())

    async def stop(self) -> None:
        """Shut the app down (its after_serving functions run), once."""
        if self.serving:
            self.serving = False
            await self.app.shutdown()


Start = Callable[..., Awaitable[Traced]]


@pytest.fixture(name="collector")
def _collector(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[ReceivedSpan]]:
    """An OTLP/HTTP collector on 127.0.0.1, named by OTEL_EXPORTER_OTLP_ENDPOINT: tracing is on."""
    with otlp_receiver() as (url, spans):
        monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", url)
        yield spans


@pytest.fixture(name="start")
async def _start(collector: list[ReceivedSpan], database_url: str) -> AsyncIterator[Start]:
    """Start an app (the probe app unless told) with its spans also kept in memory; it stops after the test."""
    started: list[Traced] = []

    async def start(factory: Callable[[dict[str, object]], Quart] = create_probe_app, **settings: object) -> Traced:
        app = factory({"TESTING": True, "DATABASE_URL": database_url, **settings})
        exporter = InMemorySpanExporter()
        provider: TracerProvider = app.extensions[tracing.KEY]
        provider.add_span_processor(SimpleSpanProcessor(exporter))
        await app.startup()
        started.append(Traced(app, app.test_client(), exporter))
        return started[-1]

    yield start
    for traced in started:
        await traced.stop()


@pytest.mark.parametrize(
    "env",
    [
        {},
        {"OTEL_SDK_DISABLED": "true", "OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:1"},
        {"OTEL_TRACES_EXPORTER": "none"},
    ],
)
async def test_off_unless_configured(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], env: dict[str, str]
) -> None:
    """With no collector named, or the SDK disabled, nothing wraps the app and no log line has a trace id."""
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    app = create_probe_app({"TESTING": True, "LOG_FORMAT": "json"})
    assert isinstance(app.asgi_app, RequestMiddleware)
    assert tracing.KEY not in app.extensions
    async with app.test_app():
        response = await app.test_client().get("/probes/request-id")
    assert response.status_code == 200
    lines = [json.loads(line) for line in capsys.readouterr().err.splitlines()]
    assert [line["logger"] for line in lines] == [SERVICE, f"{SERVICE}.access"]
    assert not [line for line in lines if "trace_id" in line or "span_id" in line]
    async with app.app_context():
        with tracing.tracer(__name__).start_as_current_span("work") as work:
            assert not work.is_recording()


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("OTEL_TRACES_EXPORTER", "zipkin", "OTEL_TRACES_EXPORTER has value 'zipkin'; expected otlp, console"),
        ("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc", "OTEL_EXPORTER_OTLP_PROTOCOL has value 'grpc'; expected http/protobuf"),
    ],
)
def test_bad_variable_stops_the_start(monkeypatch: pytest.MonkeyPatch, name: str, value: str, message: str) -> None:
    """An exporter or protocol the service does not have is a settings error naming the variable and its value."""
    monkeypatch.setenv("OTEL_TRACES_EXPORTER", "otlp")
    monkeypatch.setenv(name, value)
    with pytest.raises(SettingsError, match=f"^environment variable {message}"):
        create_app(settings={"TESTING": True})


async def test_server_span_named_by_route_continues_traceparent(start: Start) -> None:
    """A routed request is a server span named by its route template, a child of the caller's span."""
    traced: Traced = await start()
    response = await traced.client.get("/probes/items/7", headers={"traceparent": TRACEPARENT})
    assert (response.status_code, await response.get_json()) == (200, {"item": 7})
    [span] = traced.spans()
    assert (span.name, span.kind, span.status.status_code) == (
        "GET /probes/items/<int:item_id>",
        SpanKind.SERVER,
        StatusCode.UNSET,
    )
    assert span.attributes is not None
    assert span.parent is not None
    assert (span.attributes["http.route"], span.attributes["http.status_code"]) == ("/probes/items/<int:item_id>", 200)
    assert (trace.format_trace_id(span.context.trace_id), trace.format_span_id(span.parent.span_id)) == (
        TRACE_ID,
        PARENT_ID,
    )


async def test_unrouted_request_span_is_named_by_its_method(start: Start) -> None:
    """A request that matches no route is named by its method alone, never by its path."""
    traced: Traced = await start()
    response = await traced.client.get("/no/such/path/12345")
    assert response.status_code == 404
    [span] = traced.spans()
    assert (span.name, span.parent, span.status.status_code) == ("GET", None, StatusCode.UNSET)


async def test_probes_and_metrics_are_not_traced(start: Start) -> None:
    """Liveness, readiness and the metrics scrape make no spans."""
    traced: Traced = await start()
    for path in ("/healthz", "/readyz", "/metrics"):
        assert (await traced.client.get(path)).status_code == 200
    assert traced.spans() == []


async def test_unhandled_exception_is_an_error_span(start: Start) -> None:
    """A 500 sets the span's status to error and records the exception as an event."""
    traced: Traced = await start()
    response = await traced.client.get("/probes/boom")
    assert response.status_code == 500
    [span] = traced.spans()
    assert (span.name, span.status.status_code) == ("GET /probes/boom", StatusCode.ERROR)
    [event] = span.events
    assert event.attributes is not None
    assert (event.name, event.attributes["exception.type"]) == ("exception", "RuntimeError")


@pytest.mark.parametrize("log_format", ["json", "text"])
async def test_log_lines_carry_trace_and_span_ids(
    start: Start, capsys: pytest.CaptureFixture[str], log_format: str
) -> None:
    """Every line logged while a request's span is active names its trace and span; the probes' lines do not."""
    traced: Traced = await start(LOG_FORMAT=log_format)
    assert (await traced.client.get("/probes/request-id", headers={"traceparent": TRACEPARENT})).status_code == 200
    assert (await traced.client.get("/healthz")).status_code == 200
    [span] = traced.spans()
    ids = {"trace_id": TRACE_ID, "span_id": trace.format_span_id(span.context.span_id)}
    view, access, probe = capsys.readouterr().err.splitlines()
    if log_format == "json":
        assert [json.loads(line).items() >= ids.items() for line in (view, access)] == [True, True]
        assert "trace_id" not in json.loads(probe)
    else:
        suffix = f" trace_id={ids['trace_id']} span_id={ids['span_id']}"
        assert view.endswith(f"handling with an extra{suffix}")
        assert access.endswith(f" ms{suffix}")
        assert probe.endswith(" ms")


async def test_unsampled_request_has_no_span_and_no_ids(
    start: Start, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """OTEL_TRACES_SAMPLER=always_off: no span is recorded, and the log lines name no trace."""
    monkeypatch.setenv("OTEL_TRACES_SAMPLER", "always_off")
    traced: Traced = await start(LOG_FORMAT="json")
    assert (await traced.client.get("/probes/request-id")).status_code == 200
    assert traced.spans() == []
    assert [line for line in capsys.readouterr().err.splitlines() if "trace_id" in line] == []


async def test_call_to_another_service_is_a_client_span_sending_traceparent(start: Start) -> None:
    """A call through the client is a client span, child of the request's, whose id goes out in traceparent."""
    downstream = Downstream()
    await downstream.start()
    try:
        services = {NAME: {"url": downstream.url, "retries": 0}}
        traced: Traced = await start(create_calls_app, SERVICES=services)
        response = await traced.client.get("/calls/things/3", headers={"traceparent": TRACEPARENT})
    finally:
        await downstream.stop()
    assert response.status_code == 200
    call, server = traced.spans()
    assert (call.name, call.kind, server.name) == ("GET", SpanKind.CLIENT, "GET /calls/<path:path>")
    assert call.parent is not None
    assert call.parent.span_id == server.context.span_id
    assert {span.context.trace_id for span in (call, server)} == {int(TRACE_ID, 16)}
    sent = f"00-{TRACE_ID}-{trace.format_span_id(call.context.span_id)}-01"
    assert [received.headers["traceparent"] for received in downstream.received] == [sent]


async def test_statements_are_database_spans(start: Start) -> None:
    """A statement on the service's engine is a client span, child of the span active when it runs."""
    traced: Traced = await start()
    async with traced.app.app_context():
        with tracing.tracer(__name__).start_as_current_span("work") as work:
            async with database.engine().connect() as connection:
                assert (await connection.execute(text("SELECT 1"))).scalar() == 1
    *_, statement, outer = traced.spans()  # the connection's set-up statements first, if it is new
    assert statement.attributes is not None
    assert statement.parent is not None
    assert (statement.kind, statement.attributes["db.statement"]) == (SpanKind.CLIENT, "SELECT 1")
    assert statement.name.split()[0] == "SELECT"  # then the database's name, if the URL names one
    assert (statement.parent.span_id, outer.context.span_id) == (work.get_span_context().span_id,) * 2


async def test_spans_are_exported_over_otlp_when_the_app_stops(
    start: Start, collector: list[ReceivedSpan], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The spans still queued are sent to the collector on shutdown, named after OTEL_SERVICE_NAME."""
    monkeypatch.setenv("OTEL_SERVICE_NAME", "gadgets")
    traced: Traced = await start()
    assert (await traced.client.get("/probes/items/1")).status_code == 200
    assert collector == []  # batched: nothing is sent for the next seconds
    await traced.stop()
    [span] = collector
    assert (span.service, span.name, span.kind) == ("gadgets", "GET /probes/items/<int:item_id>", 2)


@pytest.mark.slow
def test_two_services_share_one_trace(monkeypatch: pytest.MonkeyPatch) -> None:
    """Two real services of two workers each (the caller on uvicorn, the called on Hypercorn), one calling the other
    through its client: one trace, linked server -> client -> server spans, each service's under its name; the
    caller's log line names the trace."""
    with otlp_receiver() as (collector, spans):
        back_port, front_port = free_port(), free_port()
        back, front = f"http://127.0.0.1:{back_port}", f"http://127.0.0.1:{front_port}"
        otel = {"OTEL_EXPORTER_OTLP_ENDPOINT": collector}
        back_env = lane_env(back_port, OTEL_SERVICE_NAME="widgets", **otel)
        front_env = lane_env(
            front_port, OTEL_SERVICE_NAME="gadgets", **otel, **{f"{ENV_PREFIX}SERVICES__{NAME.upper()}__URL": back}
        )
        with (
            serving(lane_command("hypercorn", f"{SERVICE}:create_app()"), f"{back}/healthz", env=back_env),
            serving(lane_command("uvicorn", f"{SERVICE}.tests.downstream:create_calls_app()"), f"{front}/healthz",
                    env=front_env) as front_server,
        ):  # fmt: skip
            status, _, body = get(f"{front}/calls/openapi.json")
        assert (status, json.loads(body)["status"]) == (200, 200)
    [server, call] = sorted((span for span in spans if span.service == "gadgets"), key=lambda span: span.kind)
    [downstream] = [span for span in spans if span.service == "widgets"]
    assert (server.name, server.kind, server.parent_id) == ("GET /calls/<path:path>", 2, "")
    assert (call.name, call.kind, call.parent_id) == ("GET", 3, server.span_id)
    assert (downstream.name, downstream.kind, downstream.parent_id) == ("GET /openapi.json", 2, call.span_id)
    assert {span.trace_id for span in spans} == {server.trace_id}
    access = [json.loads(line) for line in front_server.output.splitlines() if f"{SERVICE}.access" in line]
    ids = [(line["path"], line.get("trace_id"), line.get("span_id")) for line in access]
    assert ("/calls/openapi.json", server.trace_id, server.span_id) in ids
    assert {ids for ids in ids if ids[0] == "/healthz"} == {("/healthz", None, None)}
