"""The service served by real processes on 127.0.0.1: Hypercorn, `quart run` and `make run`."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from .conftest import REPO
from .processes import BIN, free_port, get, serving

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


@pytest.mark.skipif(not (Path(sys.prefix) / "bin" / ".installed").is_file(), reason="needs make's own venv")
def test_make_run_serves_home_in_debug_mode() -> None:
    port = free_port()
    command = ["make", "--no-print-directory", "run", f"PORT={port}", f"VENV={sys.prefix}"]
    with serving(command, f"http://127.0.0.1:{port}/", cwd=REPO) as process:
        assert get(f"http://127.0.0.1:{port}/")[0::2] == (200, b"{}\n")
    assert "Debug mode: True" in process.output
