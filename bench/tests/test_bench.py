"""`make bench`'s pieces that need no timing: wrk's report, the Python load generator, the report;
and one bounded end-to-end run. Speed is never asserted: the numbers depend on the machine."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SpanExportResult

from bench import bench, instructions
from bench.collector import discarding_collector
from bench.instructions import have_valgrind, parse_collected
from bench.limits import EXEMPT, LIMITED
from bench.load import LoadResult, parse_wrk, python_load, wrk_command
from bench.report import PATHS, TRACING_ON, LimitsLane, Results, markdown, ratios
from bench.rounds import free_port
from bench.servers import Target, serve_line, started, wait_until_up

REPO = Path(__file__).resolve().parents[2]
WRK_REPORT = """Running 1s test @ http://127.0.0.1:8799/nope
  1 threads and 32 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency     6.57ms    3.83ms  26.73ms   77.40%
    Req/Sec   621.50    141.86   830.00     60.00%
  Latency Distribution
     50%  835.00us
     75%    8.42ms
     90%   11.81ms
     99%    1.05s
  620 requests in 1.00s, 315.02KB read
  Socket errors: connect 0, read 2, write 1, timeout 4
  Non-2xx or 3xx responses: 13
Requests/sec:    618.68
Transfer/sec:    314.36KB
"""


def test_parse_wrk_reads_rate_percentiles_in_ms_and_every_error() -> None:
    assert parse_wrk(WRK_REPORT) == LoadResult(618.68, 0.835, 1050.0, 2 + 1 + 4 + 13, 620)


def test_parse_wrk_without_errors() -> None:
    clean = "\n".join(line for line in WRK_REPORT.splitlines() if "errors" not in line and "Non-2xx" not in line)
    assert parse_wrk(clean).errors == 0


def test_parse_wrk_refuses_other_output() -> None:
    with pytest.raises(ValueError, match="not a wrk report"):
        parse_wrk("unable to connect to 127.0.0.1:9 Connection refused")


def test_wrk_command_is_one_thread_32_connections_with_latency() -> None:
    assert wrk_command("http://127.0.0.1:1/", 0.4) == [
        *["wrk", "-t1", "-c32", "-d1s", "--timeout", "5s", "--latency", "http://127.0.0.1:1/"]
    ]


@asynccontextmanager
async def tiny_server(status: str) -> AsyncIterator[int]:
    """A keep-alive HTTP/1.1 server on a free 127.0.0.1 port answering every request with `status` and {}."""

    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while await reader.readuntil(b"\r\n\r\n"):
            writer.write(f"HTTP/1.1 {status}\r\ncontent-length: 2\r\n\r\n{{}}".encode())

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            await answer(reader, writer)
        except (asyncio.IncompleteReadError, ConnectionError):
            writer.close()

    server = await asyncio.start_server(serve, "127.0.0.1", 0)
    async with server:
        yield server.sockets[0].getsockname()[1]


async def test_python_load_counts_requests_for_a_bounded_time() -> None:
    async with tiny_server("200 OK") as port:
        result = await asyncio.wait_for(python_load("127.0.0.1", port, "/", duration=0.3, connections=4), 10)
    assert result.requests > 0
    assert result.errors == 0
    assert result.requests_per_second > 0
    assert 0 < result.p50_ms <= result.p99_ms


async def test_python_load_stops_at_its_request_budget_and_counts_error_statuses() -> None:
    async with tiny_server("503 Service Unavailable") as port:
        result = await asyncio.wait_for(python_load("127.0.0.1", port, "/", 5, connections=2, max_requests=50), 10)
    assert (result.requests, result.errors) == (50, 50)


def test_serve_line_is_make_serves_with_the_bare_app_swapped_in() -> None:
    service = serve_line(Target("hypercorn", bare=False), 8123)
    assert 'PORT="${PORT:-8000}" exec ' in service  # the port comes from the environment: started() sets it
    assert service.endswith("-m myservice.supervisor 'myservice:create_app()'")
    assert serve_line(Target("hypercorn", bare=True), 8123) == service.replace(
        "myservice:create_app", "bench.bare:create_app"
    )
    assert serve_line(Target("uvicorn", bare=False), 1).endswith("-m myservice.fastlane 'myservice:create_app()'")


def test_report_gives_same_round_ratios() -> None:
    targets = [Target("hypercorn", False), Target("hypercorn", True), Target("uvicorn", False)]
    rates = {"hypercorn skeleton": [90, 80], "hypercorn bare": [100, 100], "uvicorn skeleton": [180, 200]}
    load = {(name, path): [LoadResult(r, 1, 2, 0, 10) for r in rs] for name, rs in rates.items() for path in PATHS}
    cold = {"hypercorn skeleton": [0.6, 0.7, 0.65], "hypercorn bare": [0.5, 0.5, 0.5], "uvicorn skeleton": [0.6]}
    results = Results(targets, load, cold, {"command": "`make bench`"})
    assert [round(value, 3) for _, value, _ in ratios(results)] == [0.85, 0.85, 2.25, 2.25, 1.3]
    assert [rounds for _, _, rounds in ratios(results)] == ["0.80-0.90x", "0.80-0.90x", "2.00-2.50x", "2.00-2.50x", ""]
    text = markdown(results)
    assert "- command: `make bench`" in text
    assert "| hypercorn skeleton | GET / | 85 | 1.00 | 2.00 | 0 |" in text
    assert "| req/s uvicorn skeleton / hypercorn skeleton, GET /healthz | 2.25x | 2.00-2.50x |" in text
    assert "| cold start hypercorn skeleton / hypercorn bare (medians) | 1.30x |  |" in text
    assert "instructions" not in text  # not counted unless asked for


def test_report_gives_instruction_counts_and_their_ratio() -> None:
    targets = [Target("hypercorn", False), Target("hypercorn", True)]
    load = {(t.name, path): [LoadResult(1, 1, 1, 0, 1)] for t in targets for path in PATHS}
    counts = {"hypercorn skeleton": 1_600_000, "hypercorn bare": 1_400_000}
    text = markdown(Results(targets, load, {t.name: [0.5] for t in targets}, {}, counts))
    assert "| hypercorn skeleton | 1,600,000 |" in text
    assert "Instructions hypercorn bare / hypercorn skeleton: 0.88x" in text


def test_report_gives_what_tracing_on_costs() -> None:
    targets = [Target("hypercorn", False), Target("hypercorn", True)]
    load = {(t.name, path): [LoadResult(1, 1, 1, 0, 1)] for t in targets for path in PATHS}
    counts = {
        "hypercorn skeleton": 1_600_000,
        "hypercorn bare": 1_400_000,
        "hypercorn skeleton" + TRACING_ON: 2_000_000,
    }
    text = markdown(Results(targets, load, {t.name: [0.5] for t in targets}, {}, counts))
    assert "| hypercorn skeleton, tracing on | 2,000,000 |" in text
    assert "Tracing on (every request sampled, exported over OTLP/HTTP): +25% per GET /." in text


def test_discarding_collector_takes_otlp_exports() -> None:
    """The OpenTelemetry SDK's own OTLP/HTTP exporter, pointed where the environment says, succeeds."""
    with discarding_collector() as env:
        exporter = OTLPSpanExporter(endpoint=env["OTEL_EXPORTER_OTLP_ENDPOINT"] + "/v1/traces")
        span = TracerProvider().get_tracer(__name__).start_span("GET /")
        span.end()
        assert exporter.export([span]) is SpanExportResult.SUCCESS  # type: ignore[list-item]  # the SDK's span is one


def test_callgrind_total_is_read_from_its_log() -> None:
    log = "==12== Events    : Ir\n==12== Collected : 1749645123\n==12==\n==12== I   refs:      1,749,645,123\n"
    assert parse_collected(log) == 1_749_645_123
    with pytest.raises(RuntimeError, match="callgrind printed no total"):
        parse_collected("==12== valgrind: failed to start tool 'callgrind'\n")


def test_a_wrapper_command_runs_the_server() -> None:
    port = free_port()
    with started(Target("hypercorn", bare=True), port, {"WORKERS": "1"}, [], wrapper=["env", "WRAPPED=1"]) as running:
        wait_until_up(running, f"http://127.0.0.1:{port}/healthz")
        assert "WRAPPED=1 " in str(running.process.args)


@pytest.mark.slow
def test_bench_runs_end_to_end_into_a_results_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """One short round of every target and the database lane (Python load generator) writes the report it prints."""
    results = tmp_path / "results.md"
    monkeypatch.chdir(REPO)  # where make finds the serve command
    argv = ["--rounds", "1", "--duration", "1", "--cold-starts", "1", "--servers", "hypercorn,uvicorn"]
    bench.main([*argv, "--load", "python", "--results", str(results)])
    out = capsys.readouterr().out
    assert "apt-get install -y wrk" in out
    text = results.read_text()
    assert text in out
    for name in ["hypercorn skeleton", "hypercorn bare", "uvicorn skeleton"]:
        assert f"| {name} | GET /healthz |" in text
    assert "| req/s hypercorn skeleton / hypercorn bare, GET / |" in text
    assert "| cold start hypercorn skeleton / hypercorn bare (medians) |" in text
    if "Database lane skipped: " in out:  # no PostgreSQL on 127.0.0.1:5432: the report says so, the rest ran
        assert "- database lane: skipped: " in text
    else:
        assert "| req/s hypercorn skeleton + SQLAlchemy / hypercorn bare + asyncpg, GET /bench_items/1 |" in text


@pytest.mark.slow
@pytest.mark.skipif(not have_valgrind(), reason="valgrind is not installed")
def test_instructions_per_request_are_counted(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(instructions, "FEW", 5)
    monkeypatch.setattr(instructions, "MANY", 25)
    count = instructions.per_request(Target("hypercorn", bare=True), free_port(), {"WORKERS": "1"})
    assert 100_000 < count < 10_000_000  # a bare Quart request on Hypercorn: about 1.4 million


def test_limits_lane_serves_the_bench_app_on_each_store() -> None:
    memory, redis = (Target("hypercorn", bare=False, limits=store) for store in ("memory", "redis"))
    service, app = serve_line(Target("hypercorn", bare=False), 8123), "myservice:create_app"
    assert serve_line(memory, 8123) == service.replace(app, "bench.limits:create_app")
    assert serve_line(redis, 8123) == service.replace(app, "bench.limits:create_redis_app")
    assert (memory.name, redis.name) == (
        "hypercorn skeleton + limits in memory",
        "hypercorn skeleton + limits in redis",
    )


def test_report_gives_the_limits_lane_limited_over_exempt_per_store() -> None:
    targets = [Target("hypercorn", False), Target("hypercorn", True)]
    load = {(t.name, path): [LoadResult(100, 1, 2, 0, 10)] for t in targets for path in PATHS}
    stores = [Target("hypercorn", False, limits="memory"), Target("hypercorn", False, limits="redis")]
    rates = {(stores[0].name, LIMITED): [90, 80], (stores[1].name, LIMITED): [50, 60]}
    lane = {
        (t.name, path): [LoadResult(r, 1, 2, 0, 10) for r in rates.get((t.name, path), [100, 100])]
        for t in stores
        for path in (LIMITED, EXEMPT)
    }
    text = markdown(Results(targets, load, {t.name: [0.5] for t in targets}, {}, limits=LimitsLane(stores, lane)))
    assert f"## Rate limits lane: GET {LIMITED} against GET {EXEMPT}" in text
    assert f"| hypercorn skeleton + limits in redis | GET {LIMITED} | 55 | 1.00 | 2.00 | 0 |" in text
    assert "| req/s hypercorn skeleton + limits in memory, limited / exempt | 0.85x | 0.80-0.90x |" in text
    assert "| req/s hypercorn skeleton + limits in redis, limited / exempt | 0.55x | 0.50-0.60x |" in text
