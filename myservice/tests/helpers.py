"""Helpers shared by the service's test modules: real server processes on 127.0.0.1, the problem+json
shape, the deployment files, the serving configuration, an OTLP/HTTP collector."""

from __future__ import annotations

import http.client
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from email.message import Message
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import yaml
from alembic import command
from alembic.config import Config as AlembicConfig
from hypercorn.config import Config
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from prometheus_client.mmap_dict import MmapedDict

from myservice.settings import ENV_PREFIX, SERVICE

REPO = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
K8S = REPO / "deploy" / "k8s"
STARTUP_SECONDS = 20


def migrate(url: str, revision: str = "head", *, down: bool = False) -> None:
    """Upgrade (or downgrade) the database at `url` with the service's migrations, as `alembic` would."""
    config = AlembicConfig(REPO / "alembic.ini")
    config.set_main_option("sqlalchemy.url", url)
    config.attributes["configure_logger"] = False  # the test's logging stays as pytest set it
    (command.downgrade if down else command.upgrade)(config, revision)


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def get(url: str | urllib.request.Request, timeout: float = 5) -> tuple[int, Message, bytes]:
    """Send `url` (a GET unless it is a Request saying otherwise): status, headers, body, for errors too."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return response.status, response.headers, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.headers, error.read()


@dataclass
class Server:
    """A started server process and, once it is stopped, everything it printed."""

    process: subprocess.Popen[str]
    output: str = ""


@contextmanager
def serving(
    command: Sequence[str], url: str, env: Mapping[str, str] | None = None, cwd: Path | None = None
) -> Iterator[Server]:
    """Start `command` in its own process group, wait until `url` answers, and kill the group afterwards.
    The tests send bursts from one address, 127.0.0.1: the default rate limit is out of reach unless `env` sets it."""
    process = subprocess.Popen(
        command,
        env={**os.environ, f"{ENV_PREFIX}RATE_LIMIT_DEFAULT": "999999999/second", **(env or {})},
        cwd=cwd,
        text=True,
        start_new_session=True,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    server = Server(process)
    try:
        wait_until_up(process, url)
        yield server
    finally:
        server.output = stop(process)


def wait_until_up(process: subprocess.Popen[str], url: str) -> None:
    """Poll `url` until it answers, the process dies, or STARTUP_SECONDS pass."""
    deadline = time.monotonic() + STARTUP_SECONDS
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"server exited with {process.returncode}:\n{process.communicate()[0]}")
        try:
            get(url, timeout=1)
            return
        except OSError:
            time.sleep(0.1)
    raise AssertionError(f"server did not answer {url} within {STARTUP_SECONDS} s")


def children(pid: int) -> list[int]:
    """The process ids of `pid`'s children (Linux)."""
    return [int(child) for child in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]


def stop(process: subprocess.Popen[str], grace: float = 3) -> str:
    """Stop the process group (a reloader's children too): SIGTERM, then SIGKILL after `grace` seconds;
    reap the process, return its output. (SIGTERM first lets coverage write what the processes ran.)"""
    with suppress(ProcessLookupError, subprocess.TimeoutExpired):  # it may be gone, or slow to go
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=grace)
        finally:
            os.killpg(process.pid, signal.SIGKILL)
    output, _ = process.communicate(timeout=STARTUP_SECONDS)
    return output


def sigterm_during_slow_request(
    command: Sequence[str], url: str, env: Mapping[str, str], cwd: Path
) -> tuple[int, bytes, int]:
    """Serve, start GET `url`/probes/slow, SIGTERM the server meanwhile: the slow answer and the exit status."""
    with serving(command, f"{url}/healthz", env=env, cwd=cwd) as server, ThreadPoolExecutor(1) as pool:
        slow = pool.submit(get, f"{url}/probes/slow")
        time.sleep(0.5)
        server.process.send_signal(signal.SIGTERM)
        status, _, body = slow.result(timeout=10)
        return status, body, server.process.wait(timeout=10)


async def assert_problem(response: object, status: int, detail: str) -> dict[str, object]:
    """Check the problem+json shape and return the body."""
    assert response.status_code == status  # type: ignore[attr-defined]
    assert response.content_type == "application/problem+json"  # type: ignore[attr-defined]
    body: dict[str, object] = await response.get_json(force=True)  # type: ignore[attr-defined]
    assert body["type"] == "about:blank"
    # The running Python's wording: 3.13 follows RFC 9110 (413 is "Content Too Large", no longer
    # "Request Entity Too Large"), so a hard-coded title would pass on one Python only.
    assert body["title"] == HTTPStatus(status).phrase
    assert body["status"] == status
    assert detail in str(body["detail"])
    assert body["request_id"] == response.headers["X-Request-ID"]  # type: ignore[attr-defined]
    return body


def load_serving_config(monkeypatch: pytest.MonkeyPatch, **env: str) -> Config:
    """Load the configuration afresh with `env` set."""
    # setenv first, so that monkeypatch also undoes what the configuration itself sets in os.environ.
    for name in ["PROMETHEUS_MULTIPROC_DIR", "PORT", "HOST", "WORKERS", "ROOT_PATH"]:
        monkeypatch.setenv(name, "")
        monkeypatch.delenv(name)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    sys.modules.pop("myservice.serving", None)
    return Config.from_object("myservice.serving")


Manifest = dict[str, Any]


def manifests() -> dict[str, Manifest]:
    """Every resource in deploy/k8s, by "Kind/name"."""
    documents = [doc for path in sorted(K8S.glob("*.yaml")) for doc in yaml.safe_load_all(path.read_text()) if doc]
    return {f"{doc['kind']}/{doc['metadata']['name']}": doc for doc in documents}


DEPLOYMENT = f"Deployment/{SERVICE}"
MIGRATE_JOB = f"Job/{SERVICE}-migrate"


def pod(workload: str = DEPLOYMENT) -> Manifest:
    """The pod spec of a workload in deploy/k8s, "Kind/name": the Deployment's unless told."""
    spec: Manifest = manifests()[workload]["spec"]["template"]["spec"]
    return spec


def in_fresh_make_venv() -> bool:
    """Whether these tests run in the repo's .venv, installed from the current requirements."""
    check = ["make", "--question", "install", f"VENV={sys.prefix}"]
    return subprocess.run(check, cwd=REPO, capture_output=True, check=False).returncode == 0


def send_raw(port: int, request: bytes, timeout: float = 5) -> tuple[int, dict[str, str], bytes]:
    """Send `request`, bytes as they are, on a new connection to 127.0.0.1:`port`: status, headers (names in
    lower case), body. A server may answer (a 413) and close before it has read all of a large request."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        with suppress(BrokenPipeError, ConnectionResetError):
            sock.sendall(request)
        response = http.client.HTTPResponse(sock)
        response.begin()
        return response.status, {name.lower(): value for name, value in response.getheaders()}, response.read()


PROBES = "myservice.tests.probes:create_probe_app()"


def lane_command(lane: str, factory: str = PROBES) -> list[str]:
    """What `make serve` runs for `lane`, hypercorn or uvicorn."""
    modules = {
        "hypercorn": "myservice.supervisor",
        "uvicorn": "myservice.fastlane",
    }
    module = modules[lane]
    return [sys.executable, "-m", module, factory]


def workers(master: int) -> list[int]:
    """The worker processes of a server's master (its spawned children, not the resource tracker);
    a child that exits while it is looked at is not one."""
    return [pid for pid in children(master) if b"spawn_main" in command_line(pid)]


def command_line(pid: int) -> bytes:
    """The command line of process `pid`, empty when it is gone."""
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes()
    except FileNotFoundError:
        return b""


def wait_for(condition: Callable[[], bool], seconds: float) -> float:
    """Poll `condition` until it holds (the seconds it took) or `seconds` pass (an AssertionError)."""
    start = time.monotonic()
    while time.monotonic() < start + seconds:
        if condition():
            return time.monotonic() - start
        time.sleep(0.05)
    raise AssertionError(f"not within {seconds} s: {condition}")


def in_flight(url: str) -> float:
    """The requests-in-flight gauge of the server at `url`, as /metrics reports it."""
    status, _, body = get(f"{url}/metrics")
    assert status == 200
    line = next(line for line in body.decode().splitlines() if line.startswith(f"{SERVICE}_http_requests_in_flight "))
    return float(line.split()[1])


def lane_env(port: int, **extra: str) -> dict[str, str]:
    """Production settings on 127.0.0.1:`port` with two workers and `extra`."""
    settings = str(REPO / "settings.prod.yml")
    return {"PORT": str(port), "HOST": "127.0.0.1", "WORKERS": "2", "QUART_SETTINGS": settings} | extra


@dataclass
class KilledWorker:
    """What a server did after one of its two workers was killed with SIGKILL during slow requests."""

    statuses: list[int]  # of GET / sent while the worker was dead or being replaced
    replaced_after: float  # seconds until a new worker runs
    gauge_after: float  # seconds until requests in flight are back to the one scrape
    returncode: int  # after a SIGTERM once the new worker serves
    output: str


def kill_a_busy_worker(lane: str, tmp_path: Path) -> KilledWorker:
    """Serve `lane` with two workers, SIGKILL the one with slow requests in flight, watch what follows."""
    port, shared = free_port(), tmp_path / "metrics"
    shared.mkdir()
    url = f"http://127.0.0.1:{port}"
    env = lane_env(port, PROMETHEUS_MULTIPROC_DIR=str(shared), PROBE_SLOW_SECONDS="3")
    with serving(lane_command(lane), f"{url}/healthz", env=env, cwd=tmp_path) as server, ThreadPoolExecutor(8) as pool:
        for _ in range(6):
            pool.submit(get, f"{url}/probes/slow", 10)
        wait_for(lambda: in_flight(url) == 7, 5)  # six slow requests and the scrape
        busy = next(pid for pid in workers(server.process.pid) if _in_flight_of(shared, pid) > 0)
        os.kill(busy, signal.SIGKILL)
        statuses = [get(f"{url}/")[0] for _ in range(20)]
        replaced = wait_for(lambda: len(set(workers(server.process.pid)) - {busy}) == 2, 15)
        gauge = wait_for(lambda: in_flight(url) == 1, 15)
        server.process.send_signal(signal.SIGTERM)
        returncode = server.process.wait(timeout=15)
    return KilledWorker(statuses, replaced, gauge, returncode, server.output)


def _in_flight_of(shared: Path, pid: int) -> float:
    """The requests in flight that worker `pid` wrote to the shared metrics folder."""
    path = shared / f"gauge_livesum_{pid}.db"
    if not path.exists():
        return 0.0
    values = MmapedDict.read_all_values_from_file(str(path))  # type: ignore[no-untyped-call]  # untyped
    return float(sum(value for _, value, _, _ in values))


@dataclass(frozen=True)
class ReceivedSpan:
    """A span as an OTLP collector received it; ids in hex, as in traceparent and the logs."""

    service: str  # the resource's service.name
    name: str
    kind: int  # OTLP's SpanKind: 2 server, 3 client
    trace_id: str
    span_id: str
    parent_id: str  # empty for a root span


@contextmanager
def otlp_receiver() -> Iterator[tuple[str, list[ReceivedSpan]]]:
    """An OTLP/HTTP collector on 127.0.0.1: its base URL (an OTEL_EXPORTER_OTLP_ENDPOINT), and the spans
    posted to its /v1/traces, decoded from protobuf as they arrive."""
    spans: list[ReceivedSpan] = []

    class Collector(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # http.server's name
            body = self.rfile.read(int(self.headers["Content-Length"]))
            if self.path != "/v1/traces" or self.headers["Content-Type"] != "application/x-protobuf":
                self.send_error(404)
                return
            for resource in ExportTraceServiceRequest.FromString(body).resource_spans:
                names = [kv.value.string_value for kv in resource.resource.attributes if kv.key == "service.name"]
                spans.extend(
                    ReceivedSpan(names[0], span.name, span.kind, span.trace_id.hex(), span.span_id.hex(),
                                 span.parent_span_id.hex())
                    for scope in resource.scope_spans
                    for span in scope.spans
                )  # fmt: skip
            answer = ExportTraceServiceResponse().SerializeToString()
            self.send_response(200)
            self.send_header("Content-Type", "application/x-protobuf")
            self.send_header("Content-Length", str(len(answer)))
            self.end_headers()
            self.wfile.write(answer)

        def log_message(self, format: str, *args: object) -> None:  # http.server's name
            """Quiet: the test looks at what arrived."""

    server = ThreadingHTTPServer(("127.0.0.1", 0), Collector)
    thread = threading.Thread(target=server.serve_forever, name="otlp-receiver", daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}", spans
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)
