"""The fast lane: the service on uvicorn, as `make serve SERVER=uvicorn` runs it, in real processes."""

from __future__ import annotations

import json
import os
import signal
import sys
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from myservice.fastlane import main

from .helpers import (
    REPO,
    children,
    free_port,
    get,
    in_fresh_make_venv,
    kill_a_busy_worker,
    serving,
    sigterm_during_slow_request,
)


def fastlane(factory: str = "myservice.tests.probes:create_probe_app()") -> list[str]:
    """The fast lane as the Makefile runs it."""
    return [sys.executable, "-m", "myservice.fastlane", factory]


def env(port: int, **extra: str) -> dict[str, str]:
    """Production settings, one worker, on 127.0.0.1:`port`."""
    return {
        "PORT": str(port),
        "HOST": "127.0.0.1",
        "WORKERS": "1",
        "QUART_SETTINGS": str(REPO / "settings.prod.yml"),
    } | extra


@pytest.mark.parametrize("argv", [["fastlane"], ["fastlane", "myservice:create_app"], ["fastlane", "a()", "b()"]])
def test_fastlane_needs_one_factory_call(argv: list[str]) -> None:
    with pytest.raises(SystemExit, match=r"usage: python -m myservice.fastlane 'module:factory\(\)'"):
        main(argv)


@pytest.mark.slow
def test_fastlane_serves_home_metrics_and_json_logs(tmp_path: Path) -> None:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    with serving(fastlane("myservice:create_app()"), f"{url}/healthz", env=env(port), cwd=tmp_path) as server:
        request = urllib.request.Request(f"{url}/", headers={"X-Request-ID": "lane-1"})
        status, headers, body = get(request)
        metrics = get(f"{url}/metrics")
    assert (status, headers["Content-Type"], json.loads(body)) == (200, "application/json", {})
    assert (headers["X-Request-ID"], headers["X-Content-Type-Options"], headers["Server"]) == (
        "lane-1",
        "nosniff",
        None,
    )
    assert metrics[0] == 200
    assert 'myservice_http_requests_total{method="GET",route="/",status="200"} 1.0' in metrics[2].decode()
    lines = [json.loads(line) for line in server.output.splitlines()]
    access = [(line["logger"], line["path"], line["status"]) for line in lines if line.get("request_id") == "lane-1"]
    assert access == [("myservice.access", "/", 200)]
    assert {line["logger"] for line in lines} == {"uvicorn.error", "myservice.access"}
    assert not [line for line in lines if "color_message" in line]


@pytest.mark.slow
def test_fastlane_json_lines_have_no_terminal_colours_with_two_workers(tmp_path: Path) -> None:
    """The master's lines and the workers' carry neither uvicorn's color_message nor an ANSI escape."""
    port = free_port()
    extra = {"WORKERS": "2", "MYSERVICE_LOG_FORMAT": "json", "PROMETHEUS_MULTIPROC_DIR": str(tmp_path)}
    url = f"http://127.0.0.1:{port}"
    with serving(fastlane(), f"{url}/healthz", env=env(port, **extra), cwd=tmp_path) as server:
        server.process.send_signal(signal.SIGTERM)  # the shutdown lines too
        server.process.wait(timeout=10)
    lines = server.output.splitlines()
    assert any("Started parent process" in line for line in lines), server.output  # the master's own line
    # An escape would be written raw, or as \u001b inside a JSON string.
    assert [line for line in lines if any(bad in line for bad in ("color_message", "\x1b", "\\u001b"))] == []
    assert all(json.loads(line) for line in lines)


@pytest.mark.slow
def test_fastlane_two_workers_leave_no_metrics_folder_after_sigterm(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The metrics folder the fast lane makes for two workers is gone once it has stopped."""
    monkeypatch.delenv("PROMETHEUS_MULTIPROC_DIR", raising=False)
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    with serving(
        fastlane(), f"{url}/healthz", env=env(port, WORKERS="2", TMPDIR=str(tmp_path)), cwd=tmp_path
    ) as server:
        made = list(tmp_path.glob("myservice-metrics-*"))
        server.process.send_signal(signal.SIGTERM)
        returncode = server.process.wait(timeout=10)
    assert len(made) == 1, "the fast lane makes one folder in TMPDIR"
    assert (returncode, list(tmp_path.glob("myservice-metrics-*"))) == (0, [])


@pytest.mark.slow
def test_fastlane_root_path_answers_under_the_prefix_like_hypercorn(tmp_path: Path) -> None:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    with serving(fastlane(), f"{url}/api/healthz", env=env(port, ROOT_PATH="/api"), cwd=tmp_path):
        home, item = get(f"{url}/api/"), get(f"{url}/api/probes/items/7")
        assert (home[0], json.loads(home[2])) == (200, {})
        assert (item[0], json.loads(item[2])) == (200, {"item": 7})
        assert get(f"{url}/healthz")[0] == 404


@pytest.mark.slow
def test_fastlane_sigterm_lets_the_slow_request_finish(tmp_path: Path) -> None:
    port, lifespan = free_port(), tmp_path / "lifespan.txt"
    extra = {"MYSERVICE_GRACEFUL_TIMEOUT": "5", "PROBE_SLOW_SECONDS": "1.5", "PROBE_LIFESPAN_FILE": str(lifespan)}
    url = f"http://127.0.0.1:{port}"
    status, body, returncode = sigterm_during_slow_request(fastlane(), url, env(port, **extra), tmp_path)
    assert (status, json.loads(body)) == (200, {"shutting_down": True})
    assert returncode == 0
    assert lifespan.read_text() == "opened\nclosed\n"


@pytest.mark.slow
@pytest.mark.skipif(not in_fresh_make_venv(), reason="make serve would rebuild the venv these tests run in")
def test_make_serve_uvicorn_with_two_workers_answers_a_burst_then_exits_0(tmp_path: Path) -> None:
    port = free_port()
    url = f"http://127.0.0.1:{port}/"
    command = ["make", "--no-print-directory", "serve", "SERVER=uvicorn", f"PORT={port}", f"VENV={sys.prefix}"]
    extra = {
        "HOST": "127.0.0.1",
        "WORKERS": "2",
        "MYSERVICE_GRACEFUL_TIMEOUT": "3",
        "PROMETHEUS_MULTIPROC_DIR": str(tmp_path),
    }
    with serving(command, f"{url}healthz", env=extra, cwd=REPO) as server:
        with ThreadPoolExecutor(20) as pool:
            statuses = list(pool.map(lambda _: get(url)[0], range(200), timeout=10))
        master = children(server.process.pid)[0]  # make's only child; make passes on its exit status
        workers = children(master)
        os.kill(master, signal.SIGTERM)
        returncode = server.process.wait(timeout=10)
    assert statuses == [200] * 200
    assert len(workers) >= 2
    assert returncode == 0
    access = [json.loads(line) for line in server.output.splitlines() if '"myservice.access"' in line]
    assert [line["status"] for line in access if line["path"] == "/"] == [200] * 200


@pytest.mark.slow
def test_fastlane_replaces_a_killed_worker_and_forgets_its_requests_in_flight(tmp_path: Path) -> None:
    """kill -9 of a busy worker: the other answers meanwhile, uvicorn starts a new one, and the requests
    in flight drop back to the one scrape, with an ERROR line for the dead worker's."""
    killed = kill_a_busy_worker("uvicorn", tmp_path)
    assert killed.statuses == [200] * 20
    assert killed.returncode == 0
    lines = [json.loads(line) for line in killed.output.splitlines()]
    errors = [line["message"] for line in lines if line["level"] == "ERROR"]
    assert [error for error in errors if "died without stopping" in error], errors
    assert (killed.replaced_after, killed.gauge_after) < (5, 10)


@pytest.mark.slow
def test_fastlane_honours_a_graceful_timeout_in_fractions_of_a_second(tmp_path: Path) -> None:
    """GRACEFUL_TIMEOUT 1.9 lets a request with about 1.5 s to go finish after SIGTERM (not 1 s, nor 0 for 0.9)."""
    port = free_port()
    extra = {"MYSERVICE_GRACEFUL_TIMEOUT": "1.9", "PROBE_SLOW_SECONDS": "2"}
    url = f"http://127.0.0.1:{port}"
    status, body, returncode = sigterm_during_slow_request(fastlane(), url, env(port, **extra), tmp_path)
    assert (status, json.loads(body)) == (200, {"shutting_down": True})
    assert returncode == 0
