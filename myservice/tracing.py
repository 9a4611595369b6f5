"""Distributed tracing with OpenTelemetry, off unless the standard OTEL_* environment variables switch it on.

On when OTEL_TRACES_EXPORTER names an exporter (otlp, console), or, unset, when OTEL_EXPORTER_OTLP_ENDPOINT
or OTEL_EXPORTER_OTLP_TRACES_ENDPOINT names a collector; OTEL_SDK_DISABLED=true keeps it off. Off, the
OpenTelemetry SDK is not even imported and nothing wraps the app. On, every request but the probes' and
the metrics scrape is a server span named by its route template (`GET /orders/<int:order_id>`) that
continues the caller's `traceparent`; calls to other services (client.py) are client spans that
send it on, statements are database spans, and log records carry the trace and span ids. Each worker
process makes its own provider and exporter thread when it starts serving, and flushes them when it
stops. See docs/tracing.md.
"""

from __future__ import annotations

import importlib
import os
from collections.abc import Mapping
from typing import TYPE_CHECKING, cast

from hypercorn.typing import ASGIReceiveCallable, ASGISendCallable, Scope
from opentelemetry import trace
from quart import Quart, current_app, request

from myservice import client, database, logs
from myservice.middleware import ASGIApp
from myservice.routing import METHODS
from myservice.settings import SERVICE, SettingsError

if TYPE_CHECKING:  # imported when tracing is switched on: the SDK takes a tenth of a second to import
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import SynchronousMultiSpanProcessor, TracerProvider

KEY = "tracing"  # in app.extensions: the process's TracerProvider
UNTRACED = frozenset({"/healthz", "/readyz", "/metrics"})  # probed and scraped every few seconds: noise
EXPORTERS = ("otlp", "console")
ENDPOINTS = ("OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
PROTOCOL = "http/protobuf"  # the OTLP exporter installed; gRPC's would add grpcio


def exporters(environ: Mapping[str, str]) -> tuple[str, ...]:
    """The span exporters the environment asks for; none when tracing is off. A bad value is a SettingsError."""
    if environ.get("OTEL_SDK_DISABLED", "").strip().lower() == "true":
        return ()
    text = environ.get("OTEL_TRACES_EXPORTER", "").strip().lower()
    names = tuple(name.strip() for name in text.split(",") if name.strip())
    if not names:
        return ("otlp",) if any(environ.get(name, "").strip() for name in ENDPOINTS) else ()
    if names == ("none",):
        return ()
    if not set(names) <= set(EXPORTERS):
        expected = f"{', '.join(EXPORTERS)} (or several, comma-separated), or none"
        raise SettingsError(f"environment variable OTEL_TRACES_EXPORTER has value {text[:60]!r}; expected {expected}")
    for name in ("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "OTEL_EXPORTER_OTLP_PROTOCOL"):
        protocol = environ.get(name, "").strip()
        if "otlp" in names and protocol not in ("", PROTOCOL):
            raise SettingsError(f"environment variable {name} has value {protocol[:60]!r}; expected {PROTOCOL}")
    return names


def init_app(app: Quart) -> None:
    """Trace the app's requests, calls and statements when the environment switches tracing on; else do nothing.
    After middleware.py's init_app: the request's log lines, the access line too, are in its span."""
    names = exporters(os.environ)
    if not names:
        return
    from opentelemetry.sdk.trace import SynchronousMultiSpanProcessor, TracerProvider

    # Shared with the statements' provider (see _instrument).
    processors = SynchronousMultiSpanProcessor()  # type: ignore[no-untyped-call]  # untyped in the SDK
    # The sampler comes from OTEL_TRACES_SAMPLER and OTEL_TRACES_SAMPLER_ARG (parent-based, always on by default).
    provider = TracerProvider(resource=_resource(), shutdown_on_exit=False, active_span_processor=processors)
    app.extensions[KEY] = provider
    app.asgi_app = TracingMiddleware(app.asgi_app, provider)  # type: ignore[method-assign]  # Quart's middleware hook
    app.before_request_funcs[None].insert(0, _name_span)  # first: before any hook that may answer instead
    logs.correlate_traces()

    @app.before_serving
    async def start_exporting() -> None:
        # Here, in the worker process that serves: the exporter's thread must not be made before a fork or spawn.
        _export(provider, names)
        _instrument(app, provider, processors)

    @app.after_serving
    async def flush() -> None:
        # Here, not at exit: the spans still queued are exported, within OTEL_BSP_EXPORT_TIMEOUT.
        provider.shutdown()


def tracer(name: str) -> trace.Tracer:
    """A tracer for spans of your own: the app's provider's when tracing is on, else one whose spans cost nothing."""
    provider: TracerProvider | None = current_app.extensions.get(KEY)
    return trace.NoOpTracer() if provider is None else provider.get_tracer(name)


class TracingMiddleware:
    """A server span around every HTTP request but those to the probes and /metrics."""

    def __init__(self, app: ASGIApp, provider: TracerProvider) -> None:
        from opentelemetry.instrumentation.asgi import OpenTelemetryMiddleware
        from opentelemetry.metrics import NoOpMeterProvider

        self.app = app
        # Typed with plain mappings for scope and messages, so not as Hypercorn's (TypedDicts) ASGI callable.
        self.traced = cast(
            ASGIApp,
            OpenTelemetryMiddleware(
                app,
                default_span_details=_span_details,
                tracer_provider=provider,
                meter_provider=NoOpMeterProvider(),  # the service's metrics are Prometheus' (metrics.py)
                exclude_spans=["receive", "send"],  # a span per ASGI message would cost more than the request
            ),
        )

    async def __call__(self, scope: Scope, receive: ASGIReceiveCallable, send: ASGISendCallable) -> None:
        if scope["type"] == "http" and scope["path"].removeprefix(scope["root_path"]) not in UNTRACED:
            await self.traced(scope, receive, send)
        else:
            await self.app(scope, receive, send)


def _span_details(scope: Mapping[str, object]) -> tuple[str, dict[str, str]]:
    """The span's name until routing gives the route: the method alone, never the path (its ids are unbounded)."""
    method = str(scope["method"])
    return (method if method in METHODS else "HTTP"), {}


async def _name_span() -> None:
    """Name the request's span by its route template once it is routed, as OpenTelemetry's conventions say."""
    rule = request.url_rule
    if rule is not None:
        span = trace.get_current_span()
        span.update_name(f"{request.method} {rule.rule}")
        span.set_attribute("http.route", rule.rule)


def _resource() -> Resource:
    """Who sends the spans: the package's name and version, unless OTEL_SERVICE_NAME or OTEL_RESOURCE_ATTRIBUTES
    say otherwise."""
    from opentelemetry.sdk.resources import SERVICE_NAME, SERVICE_VERSION, OTELResourceDetector, Resource

    version = importlib.import_module(SERVICE).__version__
    return Resource.create({SERVICE_NAME: SERVICE, SERVICE_VERSION: version}).merge(OTELResourceDetector().detect())


def _export(provider: TracerProvider, names: tuple[str, ...]) -> None:
    """Batch the spans to each exporter, in a thread of this process. The OTLP exporter reads its endpoint,
    headers, timeout and compression from OTEL_EXPORTER_OTLP_*."""
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.trace.export import BatchSpanProcessor, ConsoleSpanExporter

    for name in names:
        provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter() if name == "otlp" else ConsoleSpanExporter()))


def _instrument(app: Quart, provider: TracerProvider, processors: SynchronousMultiSpanProcessor) -> None:
    """Client spans on the process's HTTP client, if it calls other services; database spans on its engine."""
    from opentelemetry.instrumentation.httpx import HTTPXClientInstrumentor
    from opentelemetry.instrumentation.sqlalchemy.engine import EngineTracer
    from opentelemetry.metrics import NoOpMeterProvider
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.sampling import ALWAYS_OFF, ParentBased

    meter_provider = NoOpMeterProvider()
    if client.KEY in app.extensions:
        services: client.Services = app.extensions[client.KEY]
        HTTPXClientInstrumentor.instrument_client(
            services.client, tracer_provider=provider, meter_provider=meter_provider
        )
    if database.KEY in app.extensions:
        # A statement is a span only within a traced one: the readiness check's would each be a trace of its own.
        within = TracerProvider(ParentBased(ALWAYS_OFF), provider.resource, False, processors)
        tracer = within.get_tracer("opentelemetry.instrumentation.sqlalchemy")
        unused = meter_provider.get_meter(__name__).create_up_down_counter("db.client.connections.usage")
        engine = app.extensions[database.KEY].engine.sync_engine
        EngineTracer(tracer, engine, unused)  # type: ignore[no-untyped-call]  # untyped in the instrumentation
