"""server.py: the options every production server starts from, read once for both servers."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from myservice.server import ServerOptions, server_options

from .helpers import BIN, free_port

MASTER = "from myservice.server import server_options; server_options()"


def test_server_options_from_environment_and_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", "")
    monkeypatch.delenv("PROMETHEUS_MULTIPROC_DIR")  # so that monkeypatch undoes what server_options sets
    env = {"PORT": "9001", "HOST": "127.0.0.1", "WORKERS": "2", "ROOT_PATH": "/api", "MYSERVICE_GRACEFUL_TIMEOUT": "7"}
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    assert server_options() == ServerOptions("127.0.0.1", 9001, 2, "/api", 7.0)
    assert os.path.isdir(os.environ["PROMETHEUS_MULTIPROC_DIR"])


@pytest.mark.slow
def test_a_metrics_folder_made_is_removed_and_one_supplied_is_kept(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A process that read the options for two workers removes the folder it made, never one it was given."""
    monkeypatch.delenv("PROMETHEUS_MULTIPROC_DIR", raising=False)
    mine = tmp_path / "mine"
    mine.mkdir()
    env = {**os.environ, "WORKERS": "2", "TMPDIR": str(tmp_path)}
    subprocess.run([sys.executable, "-c", MASTER], env=env, check=True, timeout=30)
    subprocess.run(
        [sys.executable, "-c", MASTER], env=env | {"PROMETHEUS_MULTIPROC_DIR": str(mine)}, check=True, timeout=30
    )
    assert list(tmp_path.iterdir()) == [mine]


@pytest.mark.slow
@pytest.mark.parametrize(
    "command",
    [[str(BIN / "hypercorn"), "--config", "python:myservice.serving"], [sys.executable, "-m", "myservice.fastlane"]],
    ids=["hypercorn", "fastlane"],
)
def test_a_failed_start_leaves_no_metrics_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, command: list[str]
) -> None:
    """A server that cannot listen (its port is taken) exits non-zero and removes the metrics folder it made."""
    monkeypatch.delenv("PROMETHEUS_MULTIPROC_DIR", raising=False)
    port = free_port()
    env = {**os.environ, "PORT": str(port), "HOST": "127.0.0.1", "WORKERS": "2", "TMPDIR": str(tmp_path)}
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", port))
        taken.listen()
        result = subprocess.run(
            [*command, "myservice:create_app()"], env=env, cwd=tmp_path, capture_output=True, timeout=30
        )
    assert result.returncode != 0, result.stderr
    assert list(tmp_path.glob("myservice-metrics-*")) == []
