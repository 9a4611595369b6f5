"""Hypercorn's production configuration, as Hypercorn loads it from `python:myservice.serving`."""

from __future__ import annotations

import logging
import os
import pickle

import pytest

from myservice.settings import SettingsError

from .helpers import load_serving_config


def test_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    config = load_serving_config(monkeypatch, WORKERS="1")
    assert (config.bind, config.workers, config.worker_class) == (["0.0.0.0:8000"], 0, "uvloop")
    assert (config.graceful_timeout, config.keep_alive_timeout, config.root_path) == (20.0, 5, "")
    assert config.accesslog is None
    assert config.errorlog is logging.getLogger("hypercorn.error")
    assert "PROMETHEUS_MULTIPROC_DIR" not in os.environ


def test_from_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    env = {"PORT": "9001", "HOST": "127.0.0.1", "WORKERS": "3", "ROOT_PATH": "/api", "MYSERVICE_GRACEFUL_TIMEOUT": "7"}
    config = load_serving_config(monkeypatch, **env)
    assert (config.bind, config.workers, config.root_path, config.graceful_timeout) == (
        ["127.0.0.1:9001"],
        3,
        "/api",
        7,
    )
    assert os.path.isdir(os.environ["PROMETHEUS_MULTIPROC_DIR"])
    pickle.dumps(config)  # Hypercorn hands it to each worker process


def test_workers_default_to_the_cpus(monkeypatch: pytest.MonkeyPatch) -> None:
    cpus = os.cpu_count() or 1
    assert load_serving_config(monkeypatch).workers == (0 if cpus == 1 else cpus)


@pytest.mark.parametrize(("name", "value"), [("PORT", "http"), ("PORT", "0"), ("PORT", "70000"), ("WORKERS", "-1")])
def test_invalid_environment(monkeypatch: pytest.MonkeyPatch, name: str, value: str) -> None:
    with pytest.raises(SettingsError, match=f"environment variable {name} has value '{value}'; expected an integer"):
        load_serving_config(monkeypatch, **{name: value})
