"""Prometheus metrics: requests by method, route template and status; durations; requests in flight;
and the requests sent to other services (myservice.client), their durations and retries.

With several workers each worker is its own process: PROMETHEUS_MULTIPROC_DIR (see `metrics_folder`)
makes them share counts through files in that folder, and /metrics then adds up every worker's
numbers, whichever worker answers the scrape.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

from prometheus_client import REGISTRY, CollectorRegistry, Counter, Gauge, Histogram, generate_latest, multiprocess
from quart import Quart

from myservice.metrics_folder import METRICS_FILE, MULTIPROC_ENV, alive, check_usable
from myservice.settings import SERVICE

logger = logging.getLogger(f"{SERVICE}.metrics")
check_usable()  # before the metrics below write their first files there

REQUESTS = Counter("http_requests", "Requests answered.", ["method", "route", "status"], namespace=SERVICE)
DURATION = Histogram("http_request_duration_seconds", "Time to answer a request.", ["route"], namespace=SERVICE)
IN_FLIGHT = Gauge("http_requests_in_flight", "Requests being handled.", namespace=SERVICE, multiprocess_mode="livesum")
# Each attempt of a call to another service is one request; `status` is its answer's, or timeout, error
# or cancelled (the caller went away).
CLIENT_REQUESTS = Counter(
    "http_client_requests", "Requests sent to other services.", ["service", "method", "status"], namespace=SERVICE
)
CLIENT_DURATION = Histogram(
    "http_client_request_duration_seconds", "Time a request to another service took.", ["service"], namespace=SERVICE
)
CLIENT_RETRIES = Counter(
    "http_client_retries",
    "Requests to other services sent again after a failure.",
    ["service", "method"],
    namespace=SERVICE,
)

# Calls to the rate limit store (Redis) that failed, by the error's class (ConnectionError, TimeoutError...);
# RATE_LIMIT_ON_STORAGE_ERROR says what the requests got. (A labelled metric writes no file until it counts.)
RATE_LIMIT_STORE_ERRORS = Counter(
    "rate_limit_store_errors", "Calls to the rate limit store that failed.", ["error"], namespace=SERVICE
)


def init_app(app: Quart) -> None:
    """Drop the live gauges of dead workers when a worker starts, and its own when it stops.
    (The middleware counts the requests.)"""
    app.before_serving(_forget_dead_processes)
    app.after_serving(_forget_process)


def exposition() -> bytes:
    """Every metric in the Prometheus text format, summed over all workers when there are several."""
    if MULTIPROC_ENV not in os.environ:
        return generate_latest(REGISTRY)
    registry = CollectorRegistry()
    multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]  # untyped in prometheus-client
    return generate_latest(registry)


def observe(method: str, route: str, status: int, seconds: float) -> None:
    """Count one answered request and its duration. `route` is the route template, never the raw path,
    so that ids in URLs do not multiply the series."""
    key = (method, route, status)
    children = _children.get(key)
    if children is None:  # a label lookup takes a lock and builds tuples: do it once per series
        children = _children[key] = (REQUESTS.labels(method, route, str(status)), DURATION.labels(route))
    children[0].inc()
    children[1].observe(seconds)


_children: dict[tuple[str, str, int], tuple[Counter, Histogram]] = {}


def observe_call(service: str, method: str, status: str, seconds: float) -> None:
    """Count one request sent to another service and its duration; every label from a bounded set."""
    CLIENT_REQUESTS.labels(service, method, status).inc()
    CLIENT_DURATION.labels(service).observe(seconds)


async def _forget_dead_processes() -> None:
    """Drop the live gauges (requests in flight) of workers that died without stopping, e.g. killed."""
    if MULTIPROC_ENV not in os.environ:
        return
    for path in Path(os.environ[MULTIPROC_ENV]).glob("gauge_live*.db"):
        match = METRICS_FILE.fullmatch(path.name)
        if match and not alive(int(match["pid"])):
            logger.error("Worker %s died without stopping: its requests in flight are no longer counted", match["pid"])
            multiprocess.mark_process_dead(int(match["pid"]))  # type: ignore[no-untyped-call]  # untyped


async def _forget_process() -> None:
    """Drop this worker's live gauges from the shared files when it stops."""
    if MULTIPROC_ENV in os.environ:
        multiprocess.mark_process_dead(os.getpid())  # type: ignore[no-untyped-call]  # untyped in prometheus-client
