"""The metrics blueprint: Prometheus scrapes /metrics."""

from __future__ import annotations

from prometheus_client import CONTENT_TYPE_LATEST
from quart import Blueprint, Response

from myservice.auth import public
from myservice.limits import rate_exempt
from myservice.metrics import exposition
from myservice.openapi import text_response

metrics = Blueprint("metrics", __name__)


@metrics.get("/metrics")
@rate_exempt  # Prometheus scrapes it
@public
@text_response("Every metric, in the Prometheus text exposition format.")
async def get_metrics() -> Response:
    """Every metric in the Prometheus text exposition format."""
    return Response(exposition(), content_type=CONTENT_TYPE_LATEST)
