"""The service served by real processes on 127.0.0.1: Hypercorn, `quart run`, `make run` and `make serve`."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from myservice.settings import ENV_PREFIX

from .helpers import (
    BIN,
    REPO,
    children,
    free_port,
    get,
    in_fresh_make_venv,
    kill_a_busy_worker,
    lane_command,
    lane_env,
    serving,
    sigterm_during_slow_request,
    wait_for,
    workers,
)

pytestmark = pytest.mark.slow


def test_hypercorn_serves_home() -> None:
    port = free_port()
    command = [str(BIN / "hypercorn"), "--bind", f"127.0.0.1:{port}", "myservice:create_app()"]
    with serving(command, f"http://127.0.0.1:{port}/"):
        status, headers, body = get(f"http://127.0.0.1:{port}/")
    assert (status, headers["content-type"], json.loads(body)) == (200, "application/json", {})


def test_quart_run_serves_home(tmp_path: Path) -> None:
    port = free_port()
    command = [str(BIN / "quart"), "run", "--port", str(port)]
    with serving(command, f"http://127.0.0.1:{port}/", env={"QUART_APP": "myservice"}, cwd=tmp_path) as process:
        assert get(f"http://127.0.0.1:{port}/")[0::2] == (200, b"{}\n")
    assert "Debug mode: False" in process.output
    # One access line per request: ours, not also Hypercorn's (which `quart run` sends to app.logger).
    requests = [line for line in process.output.splitlines() if "GET / " in line]
    assert requests
    assert all(" INFO myservice.access [" in line for line in requests), requests


def test_quart_run_with_malformed_settings_exits_with_one_line(tmp_path: Path) -> None:
    path = tmp_path / "broken.yml"
    path.write_text("DEBUG: true\nLOG_LEVEL: [INFO\n")
    env = {"PATH": str(BIN), "QUART_APP": "myservice", "QUART_SETTINGS": str(path)}
    result = subprocess.run(
        [str(BIN / "quart"), "run", "--port", str(free_port())],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 1
    assert result.stderr.splitlines()[-1] == f"{path} line 3: invalid YAML: expected ',' or ']', but got '<stream end>'"


LOUD = f"environment variable {ENV_PREFIX}LOG_LEVEL: LOG_LEVEL has value 'LOUD'; expected one of DEBUG, "


def start_commands(port: int) -> dict[str, list[str]]:
    """Every documented way to start the service, by hand, on 127.0.0.1:`port` (or PORT)."""
    factory = "myservice:create_app()"
    return {
        "hypercorn": [str(BIN / "hypercorn"), "--bind", f"127.0.0.1:{port}", factory],
        "hypercorn-config": [str(BIN / "hypercorn"), "--config", "python:myservice.serving", factory],
        "fastlane": [sys.executable, "-m", "myservice.fastlane", factory],
        "quart-run": [str(BIN / "quart"), "run", "--port", str(port)],
    }


@pytest.mark.parametrize("name", list(start_commands(0)))
def test_a_settings_error_stops_every_start_command(tmp_path: Path, name: str) -> None:
    """A bad setting: a failure status and the one-line message, whichever command starts the service."""
    port = free_port()
    env = {**os.environ, "MYSERVICE_LOG_LEVEL": "LOUD", "QUART_APP": "myservice", "PORT": str(port)}
    result = subprocess.run(
        start_commands(port)[name],
        env=env | {"HOST": "127.0.0.1"},
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode != 0, result.stderr
    assert [line for line in result.stderr.splitlines() if line.startswith(LOUD)], result.stderr
    assert "Traceback" not in result.stderr


def test_hypercorn_still_exits_0_when_its_worker_fails(tmp_path: Path) -> None:
    """Hypercorn 0.18's master exits 0 whatever its worker's status (pgjones/hypercorn#269), so that
    server.app_settings kills it on a settings error. Once this fails, Hypercorn passes the status on:
    drop that kill (and this test)."""
    command = [str(BIN / "hypercorn"), "--bind", f"127.0.0.1:{free_port()}", "myservice.no_such_module:app"]
    result = subprocess.run(command, cwd=tmp_path, capture_output=True, text=True, timeout=30)
    assert "Cannot load application" in result.stderr
    assert result.returncode == 0, "Hypercorn now reports a failed worker: remove the kill in myservice.server"


@pytest.mark.skipif(not in_fresh_make_venv(), reason="make run would rebuild the venv these tests run in")
def test_make_run_serves_home_in_debug_mode() -> None:
    port = free_port()
    command = ["make", "--no-print-directory", "run", f"PORT={port}", f"VENV={sys.prefix}"]
    with serving(command, f"http://127.0.0.1:{port}/", cwd=REPO) as process:
        assert get(f"http://127.0.0.1:{port}/")[0::2] == (200, b"{}\n")
    assert "Debug mode: True" in process.output
    assert "the database is not migrated" not in process.output


@pytest.mark.skipif(not in_fresh_make_venv(), reason="make run would rebuild the venv these tests run in")
def test_make_run_serves_when_the_database_cannot_be_migrated() -> None:
    """`make run` migrates first; with the database unreachable it says so, and serves anyway."""
    port = free_port()
    command = ["make", "--no-print-directory", "run", f"PORT={port}", f"VENV={sys.prefix}"]
    env = {f"{ENV_PREFIX}DATABASE_URL": f"postgresql://app@127.0.0.1:{free_port()}/app"}
    with serving(command, f"http://127.0.0.1:{port}/", env=env, cwd=REPO) as process:
        assert get(f"http://127.0.0.1:{port}/")[0] == 200
    assert "FAILED: the database at postgresql+asyncpg://app@127.0.0.1" in process.output
    assert "make run: the database is not migrated (see above); serving anyway" in process.output


def hypercorn_command(factory: str = "myservice.tests.probes:create_probe_app()") -> list[str]:
    """Hypercorn as `make serve` runs it, with the production configuration."""
    return [str(BIN / "hypercorn"), "--config", "python:myservice.serving", factory]


def test_production_config_serves_problem_json_and_json_logs(tmp_path: Path) -> None:
    port = free_port()
    env = {"PORT": str(port), "HOST": "127.0.0.1", "WORKERS": "1", "MYSERVICE_LOG_FORMAT": "json"}
    with serving(hypercorn_command(), f"http://127.0.0.1:{port}/healthz", env=env, cwd=tmp_path) as server:
        request = urllib.request.Request(f"http://127.0.0.1:{port}/nope", headers={"X-Request-ID": "real-1"})
        status, headers, body = get(request)
        server.process.send_signal(signal.SIGTERM)  # the access line follows the response: let it be written
        server.process.wait(timeout=10)
    assert (status, headers["Content-Type"], headers["X-Request-ID"]) == (404, "application/problem+json", "real-1")
    assert (headers["X-Content-Type-Options"], headers["Server"]) == ("nosniff", None)
    assert json.loads(body)["request_id"] == "real-1"
    lines = [json.loads(line) for line in server.output.splitlines()]
    assert {"logger": "hypercorn.error", "level": "INFO"}.items() <= lines[0].items()
    access = [line for line in lines if line.get("request_id") == "real-1"]
    assert [(line["logger"], line["status"], line["path"]) for line in access] == [("myservice.access", 404, "/nope")]


def test_sigterm_lets_the_slow_request_finish(tmp_path: Path) -> None:
    port, lifespan = free_port(), tmp_path / "lifespan.txt"
    env = {
        "PORT": str(port),
        "HOST": "127.0.0.1",
        "WORKERS": "1",
        "MYSERVICE_GRACEFUL_TIMEOUT": "5",
        "PROBE_SLOW_SECONDS": "1.5",
        "PROBE_LIFESPAN_FILE": str(lifespan),
    }
    status, body, returncode = sigterm_during_slow_request(
        hypercorn_command(), f"http://127.0.0.1:{port}", env, tmp_path
    )
    assert (status, json.loads(body)) == (200, {"shutting_down": True})
    assert returncode == 0
    assert lifespan.read_text() == "opened\nclosed\n"


def test_sigterm_with_two_workers_lets_every_slow_request_finish(tmp_path: Path) -> None:
    # Hypercorn's master SIGTERMs the other workers once the first has drained; they must drain too.
    port = free_port()
    env = {"PORT": str(port), "HOST": "127.0.0.1", "WORKERS": "2", "MYSERVICE_GRACEFUL_TIMEOUT": "5"}
    env |= {"PROBE_SLOW_SECONDS": "2", "PROMETHEUS_MULTIPROC_DIR": str(tmp_path)}
    with serving(lane_command("hypercorn"), f"http://127.0.0.1:{port}/healthz", env=env, cwd=tmp_path) as server:
        with ThreadPoolExecutor(8) as pool:
            slow = [pool.submit(get, f"http://127.0.0.1:{port}/probes/slow", 10) for _ in range(8)]
            time.sleep(0.7)
            server.process.send_signal(signal.SIGTERM)
            statuses = [future.result(timeout=15)[0] for future in slow]
        returncode = server.process.wait(timeout=10)
    assert statuses == [200] * 8
    assert returncode == 0


def test_two_workers_leave_no_metrics_folder_after_sigterm(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The metrics folder the configuration makes for two workers is gone once Hypercorn has stopped."""
    monkeypatch.delenv("PROMETHEUS_MULTIPROC_DIR", raising=False)
    port = free_port()
    env = {"PORT": str(port), "HOST": "127.0.0.1", "WORKERS": "2", "TMPDIR": str(tmp_path)}
    command = lane_command("hypercorn", "myservice:create_app()")
    with serving(command, f"http://127.0.0.1:{port}/healthz", env=env, cwd=tmp_path) as server:
        made = list(tmp_path.glob("myservice-metrics-*"))
        server.process.send_signal(signal.SIGTERM)
        returncode = server.process.wait(timeout=10)
    assert len(made) == 1, "the configuration makes one folder in TMPDIR"
    assert (returncode, list(tmp_path.glob("myservice-metrics-*"))) == (0, [])


def test_metrics_add_up_over_two_workers(tmp_path: Path) -> None:
    port, shared = free_port(), tmp_path / "metrics"
    shared.mkdir()
    env = {"PORT": str(port), "HOST": "127.0.0.1", "WORKERS": "2", "PROMETHEUS_MULTIPROC_DIR": str(shared)}
    sent = 0
    command = lane_command("hypercorn", "myservice:create_app()")
    with serving(command, f"http://127.0.0.1:{port}/healthz", env=env, cwd=tmp_path):
        with ThreadPoolExecutor(10) as pool:
            # Concurrent batches until both workers have answered some (bounded: 20 batches at most).
            while sent < 40 or (sent < 400 and len(_workers_with_counters(shared)) < 2):
                batch = list(pool.map(lambda _: get(f"http://127.0.0.1:{port}/")[0], range(20)))
                assert batch == [200] * 20
                sent += 20
        # A request is counted once its answer is sent: the last ones may still be counting.
        wait_for(lambda: _home_count(get(f"http://127.0.0.1:{port}/metrics")[2]) == sent, 5)
        counted = [_home_count(get(f"http://127.0.0.1:{port}/metrics")[2]) for _ in range(6)]
    assert len(_workers_with_counters(shared)) == 2, "both workers must answer for this test to mean anything"
    assert counted == [float(sent)] * 6


def _workers_with_counters(shared: Path) -> set[str]:
    """The pids of the workers that wrote counters into the shared metrics folder."""
    return {path.stem.rpartition("_")[2] for path in shared.glob("counter_*.db")}


def _home_count(exposition: bytes) -> float:
    """The number of GET / requests answered with 200, from a Prometheus text exposition."""
    families = text_string_to_metric_families(exposition.decode())
    labels = {"method": "GET", "route": "/", "status": "200"}
    samples = [
        s for f in families for s in f.samples if s.name == "myservice_http_requests_total" and s.labels == labels
    ]
    return sum(sample.value for sample in samples)


GRACEFUL_SECONDS = 3


def _make_serve(port: int) -> tuple[list[str], dict[str, str]]:
    """`make serve` as a user types it, in the venv these tests run in."""
    return ["make", "--no-print-directory", "serve", f"PORT={port}", "WORKERS=2", f"VENV={sys.prefix}"], {}


def _hypercorn_serve(port: int) -> tuple[list[str], dict[str, str]]:
    """What `make serve` runs, started directly."""
    env = {"PORT": str(port), "WORKERS": "2", "QUART_SETTINGS": str(REPO / "settings.prod.yml")}
    return lane_command("hypercorn", "myservice:create_app()"), env


@pytest.mark.parametrize(
    ("start", "master"),
    [
        pytest.param(
            _make_serve,
            lambda pid: children(pid)[0],  # make's only child; make passes on its exit status
            id="make-serve",
            marks=pytest.mark.skipif(not in_fresh_make_venv(), reason="make serve would rebuild the venv"),
        ),
        pytest.param(_hypercorn_serve, lambda pid: pid, id="hypercorn"),
    ],
)
def test_two_workers_answer_a_burst_then_exit_0_on_sigterm(
    tmp_path: Path, start: Callable[[int], tuple[list[str], dict[str, str]]], master: Callable[[int], int]
) -> None:
    port = free_port()
    url, (command, env) = f"http://127.0.0.1:{port}/", start(port)
    env |= {
        "HOST": "127.0.0.1",
        "MYSERVICE_GRACEFUL_TIMEOUT": str(GRACEFUL_SECONDS),
        "PROMETHEUS_MULTIPROC_DIR": str(tmp_path),
    }
    with serving(command, f"{url}healthz", env=env, cwd=REPO) as server:
        with ThreadPoolExecutor(20) as pool:
            statuses = list(pool.map(lambda _: get(url)[0], range(200), timeout=10))
        os.kill(master(server.process.pid), signal.SIGTERM)
        returncode = server.process.wait(timeout=GRACEFUL_SECONDS)
    assert statuses == [200] * 200
    assert returncode == 0
    # settings.prod.yml is in effect: JSON logs, one access line per request.
    access = [json.loads(line) for line in server.output.splitlines() if '"myservice.access"' in line]
    assert [line["status"] for line in access if line["path"] == "/"] == [200] * 200


def test_a_killed_worker_is_replaced_while_the_other_serves(tmp_path: Path) -> None:
    """kill -9 of a busy worker: the other answers meanwhile, an ERROR line names the signal, a new worker
    starts, the requests in flight no longer count the dead worker's, and SIGTERM still exits 0."""
    killed = kill_a_busy_worker("hypercorn", tmp_path)
    assert killed.statuses == [200] * 20
    assert killed.returncode == 0
    lines = [json.loads(line) for line in killed.output.splitlines()]
    errors = [line["message"] for line in lines if line["level"] == "ERROR"]
    assert len([error for error in errors if error.endswith("was killed by SIGKILL; starting a new one")]) == 1, errors
    assert (killed.replaced_after, killed.gauge_after) < (5, 10)


def test_a_worker_that_cannot_start_stops_the_server_with_status_1(tmp_path: Path) -> None:
    """A worker that exits by itself (here: no such factory) is not restarted in a loop: status 1 and a line."""
    env = lane_env(free_port())
    command = lane_command("hypercorn", "myservice.tests.probes:no_such_factory()")
    result = subprocess.run(
        command, env={**os.environ, **env}, cwd=tmp_path, capture_output=True, text=True, timeout=30
    )
    assert result.returncode == 1
    assert [line for line in result.stderr.splitlines() if "exited with status 1; stopping the server" in line]


@pytest.mark.parametrize("lane", ["hypercorn", "uvicorn"])
def test_workers_stop_when_their_master_is_killed(tmp_path: Path, lane: str) -> None:
    """kill -9 of the master: its workers stop within seconds and the port is free again."""
    port = free_port()
    env = lane_env(port, PROMETHEUS_MULTIPROC_DIR=str(tmp_path))
    with serving(lane_command(lane), f"http://127.0.0.1:{port}/healthz", env=env, cwd=tmp_path) as server:
        orphans = workers(server.process.pid)
        os.kill(server.process.pid, signal.SIGKILL)
        wait_for(lambda: not any(_running(pid) for pid in orphans), 10)
        with pytest.raises(urllib.error.URLError, match="Connection refused"):
            get(f"http://127.0.0.1:{port}/healthz", timeout=2)
    assert len(orphans) == 2


def _running(pid: int) -> bool:
    """Whether process `pid` runs (exists, and is not a zombie waiting for its new parent to reap it)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    return stat.rpartition(")")[2].split()[0] != "Z"


@pytest.mark.parametrize("lane", ["hypercorn", "uvicorn"])
def test_a_second_server_on_a_served_port_stops_with_one_line(tmp_path: Path, lane: str) -> None:
    """A second start on the port two workers serve: status 1 and one line, not a second server sharing it."""
    port = free_port()
    env = lane_env(port, PROMETHEUS_MULTIPROC_DIR=str(tmp_path))
    with serving(lane_command(lane), f"http://127.0.0.1:{port}/healthz", env=env, cwd=tmp_path):
        second = subprocess.run(
            lane_command(lane), env={**os.environ, **env}, cwd=tmp_path, capture_output=True, text=True, timeout=30
        )
        assert get(f"http://127.0.0.1:{port}/healthz")[0] == 200
    assert second.returncode == 1
    assert second.stderr.splitlines()[-1] == f"port {port} on 127.0.0.1 is in use: is the service running already?"
    assert "Traceback" not in second.stderr


def test_the_hypercorn_command_refuses_several_workers(tmp_path: Path) -> None:
    """Hypercorn's own master stops serving when a worker dies: with WORKERS=2 it points at the supervisor."""
    env = {**os.environ, **lane_env(free_port())}
    result = subprocess.run(hypercorn_command(), env=env, cwd=tmp_path, capture_output=True, text=True, timeout=30)
    assert result.returncode == 1
    expected = "WORKERS=2: serve several workers with python -m myservice.supervisor"
    assert result.stderr.splitlines()[-1] == expected
