"""Fixtures: an app built from defaults plus test overrides, its test client, and a clean environment."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from quart import Quart
from quart.typing import TestClientProtocol as Client

from myservice import create_app
from myservice.settings import ENV_PREFIX

from .probes import create_probe_app


@pytest.fixture(autouse=True)
def _isolate(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Run each test in an empty folder with no settings from the developer's shell."""
    for name in os.environ:
        if name.startswith(ENV_PREFIX) or name == "QUART_SETTINGS":
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)


@pytest.fixture(name="app")
async def _app() -> AsyncIterator[Quart]:
    """The service with every discovered blueprint, started and shut down around the test."""
    app = create_app(settings={"TESTING": True})
    async with app.test_app():
        yield app


@pytest.fixture(name="client")
def _client(app: Quart) -> Client:
    """A test client of the started app."""
    return app.test_client()


@pytest.fixture(name="probe_app")
async def _probe_app() -> AsyncIterator[Quart]:
    """The service plus the test-only probe routes (see probes.py), started."""
    app = create_probe_app({"TESTING": True, "MAX_CONTENT_LENGTH": 64})
    async with app.test_app():
        yield app


@pytest.fixture(name="probe_client")
def _probe_client(probe_app: Quart) -> Client:
    """A test client of the service with the probe routes."""
    return probe_app.test_client()
