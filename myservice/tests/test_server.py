"""myservice.server: the options every production server starts from, read once for both servers."""

from __future__ import annotations

import os

import pytest

from myservice.server import ServerOptions, server_options


def test_server_options_from_environment_and_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", "")
    monkeypatch.delenv("PROMETHEUS_MULTIPROC_DIR")  # so that monkeypatch undoes what server_options sets
    env = {"PORT": "9001", "HOST": "127.0.0.1", "WORKERS": "2", "ROOT_PATH": "/api", "MYSERVICE_GRACEFUL_TIMEOUT": "7"}
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    assert server_options() == ServerOptions("127.0.0.1", 9001, 2, "/api", 7.0)
    assert os.path.isdir(os.environ["PROMETHEUS_MULTIPROC_DIR"])
