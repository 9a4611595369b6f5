"""The metrics blueprint: Prometheus exposition of request counts, durations and requests in flight."""

from __future__ import annotations

from prometheus_client.parser import text_string_to_metric_families
from quart.typing import TestClientProtocol as Client


async def scrape(client: Client) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    """GET /metrics and parse it: (sample name, labels) -> value."""
    response = await client.get("/metrics")
    assert response.status_code == 200
    assert response.content_type == "text/plain; version=1.0.0; charset=utf-8"
    text = await response.get_data(as_text=True)
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def count(metrics: dict[tuple[str, frozenset[tuple[str, str]]], float], **labels: str) -> float:
    return metrics.get(("myservice_http_requests_total", frozenset(labels.items())), 0.0)


async def test_requests_are_counted_by_route_template(probe_client: Client) -> None:
    before = await scrape(probe_client)
    for item in range(3):
        await probe_client.get(f"/probes/items/{item}")
    await probe_client.get("/no/such/page")
    await probe_client.post("/")
    after = await scrape(probe_client)
    item_route = {"method": "GET", "route": "/probes/items/<int:item_id>", "status": "200"}
    assert count(after, **item_route) - count(before, **item_route) == 3
    unmatched = {"method": "GET", "route": "unmatched", "status": "404"}
    assert count(after, **unmatched) - count(before, **unmatched) == 1
    not_allowed = {"method": "POST", "route": "unmatched", "status": "405"}
    assert count(after, **not_allowed) - count(before, **not_allowed) == 1
    assert not any("/probes/items/1" in str(labels) for _, labels in after)


async def test_errors_are_counted(probe_client: Client) -> None:
    before = await scrape(probe_client)
    await probe_client.get("/probes/boom")
    after = await scrape(probe_client)
    labels = {"method": "GET", "route": "/probes/boom", "status": "500"}
    assert count(after, **labels) - count(before, **labels) == 1


async def test_durations_and_in_flight(client: Client) -> None:
    before = await scrape(client)
    await client.get("/")
    after = await scrape(client)
    key = ("myservice_http_request_duration_seconds_count", frozenset({("route", "/")}))
    assert after[key] - before.get(key, 0.0) == 1
    # The scrape itself is the one request in flight while /metrics renders.
    assert after[("myservice_http_requests_in_flight", frozenset())] == 1


async def test_unknown_methods_count_as_one_label_value(probe_client: Client) -> None:
    """Made-up methods are all counted under method="other": a client cannot add series at will."""
    before = await scrape(probe_client)
    for method in ["FOO", "BAR", "get", "PROPFIND"]:
        response = await probe_client.open("/healthz", method=method)  # type: ignore[call-arg]  # no json default
        assert response.status_code == 501
    after = await scrape(probe_client)
    other = {"method": "other", "route": "unmatched", "status": "501"}
    assert count(after, **other) - count(before, **other) == 4
    assert not {"FOO", "BAR", "get", "PROPFIND"} & {dict(labels).get("method") for _, labels in after}
