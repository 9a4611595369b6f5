"""Prometheus metrics: requests by method, route template and status; durations; requests in flight.

With several Hypercorn workers each worker is its own process: PROMETHEUS_MULTIPROC_DIR (set by
`myservice.serving` when WORKERS > 1) makes them share counts through files in that folder, and
/metrics then adds up every worker's numbers, whichever worker answers the scrape.
"""

from __future__ import annotations

import os
import time

from prometheus_client import REGISTRY, CollectorRegistry, Counter, Gauge, Histogram, generate_latest, multiprocess
from quart import Quart, Response, g, request

from myservice.settings import SERVICE

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"

REQUESTS = Counter("http_requests", "Requests answered.", ["method", "route", "status"], namespace=SERVICE)
DURATION = Histogram("http_request_duration_seconds", "Time to answer a request.", ["route"], namespace=SERVICE)
IN_FLIGHT = Gauge("http_requests_in_flight", "Requests being handled.", namespace=SERVICE, multiprocess_mode="livesum")


def init_app(app: Quart) -> None:
    """Count and time every request."""
    app.before_request(_start)
    app.after_request(_observe)
    app.teardown_request(_finish)
    app.after_serving(_forget_process)


def exposition() -> bytes:
    """Every metric in the Prometheus text format, summed over all workers when there are several."""
    if MULTIPROC_ENV not in os.environ:
        return generate_latest(REGISTRY)
    registry = CollectorRegistry()
    multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]  # untyped in prometheus-client
    return generate_latest(registry)


async def _start() -> None:
    g.metrics_started = time.perf_counter()
    IN_FLIGHT.inc()


async def _observe(response: Response) -> Response:
    # The route template, not the path: ids in URLs must not explode the number of series.
    route = request.url_rule.rule if request.url_rule else "unmatched"
    REQUESTS.labels(request.method, route, str(response.status_code)).inc()
    DURATION.labels(route).observe(time.perf_counter() - g.metrics_started)
    return response


async def _finish(_: BaseException | None) -> None:
    if "metrics_started" in g:
        IN_FLIGHT.dec()


async def _forget_process() -> None:
    """Drop this worker's live gauges from the shared files when it stops."""
    if MULTIPROC_ENV in os.environ:
        multiprocess.mark_process_dead(os.getpid())  # type: ignore[no-untyped-call]  # untyped in prometheus-client
