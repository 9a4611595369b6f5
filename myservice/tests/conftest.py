"""Fixtures: an app built from defaults plus test overrides, its test client, and a clean environment.

The database is a SQLite file migrated once per run, or the PostgreSQL database at TEST_DATABASE_URL;
a test that asks for `database` runs in a transaction that is rolled back at its end.
"""

from __future__ import annotations

import asyncio
import os
import threading
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from quart import Quart
from quart.typing import TestClientProtocol as Client
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from myservice import create_app, database
from myservice.settings import ENV_PREFIX

from .helpers import migrate
from .probes import create_probe_app
from .tokens import ISSUER, ISSUER_URL


@pytest.fixture(name="trusted_issuer", scope="session", autouse=True)
def _trusted_issuer(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    """Trust the test issuer (see tokens.py) for the whole run, through the environment, so that servers that
    module-scoped fixtures start trust it too. Its public key is in a folder of its own: never in a test's
    tmp_path, which tests inspect."""
    path = tmp_path_factory.mktemp("issuer") / "public.pem"
    path.write_bytes(ISSUER.public_pem())
    trusted = {f"{ENV_PREFIX}AUTH_PUBLIC_KEY_FILE": str(path), f"{ENV_PREFIX}AUTH_ISSUER": ISSUER_URL}
    with pytest.MonkeyPatch.context() as session:
        for name, value in trusted.items():
            session.setenv(name, value)
        yield trusted


@pytest.fixture(autouse=True)
def _isolate(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, trusted_issuer: dict[str, str]) -> None:
    """Run each test in an empty folder with no settings (nor OpenTelemetry's) from the developer's shell, but the
    test issuer trusted."""
    for name in os.environ:
        if (name.startswith((ENV_PREFIX, "OTEL_")) or name == "QUART_SETTINGS") and name not in trusted_issuer:
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)


@pytest.fixture(autouse=True)
async def _aiosqlite_threads_stopped() -> AsyncIterator[None]:
    """After the test, wait for the threads of closed SQLite connections while the test's event loop still runs.

    aiosqlite stops a closed connection's thread without waiting for it; the thread then answers the loop,
    which must not be closed by then (a "RuntimeError: Event loop is closed" in a later test).
    """
    yield
    async with asyncio.timeout(5):
        while any(thread.name.endswith("(_connection_worker_thread)") for thread in threading.enumerate()):
            await asyncio.sleep(0.005)


@pytest.fixture(name="database_url", scope="session")
def _database_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The test database, upgraded to the latest migration for the run and downgraded after it."""
    url = os.environ.get("TEST_DATABASE_URL") or f"sqlite:///{tmp_path_factory.mktemp('database')}/test.sqlite"
    migrate(url)
    yield url
    migrate(url, "base", down=True)


@pytest.fixture(name="app")
async def _app(database_url: str) -> AsyncIterator[Quart]:
    """The service with every discovered blueprint, on the test database, started and shut down around the test."""
    app = create_app(settings={"TESTING": True, "DATABASE_URL": database_url})
    async with app.test_app():
        yield app


@pytest.fixture(name="database")
async def _database(app: Quart) -> AsyncIterator[AsyncSession]:
    """The app's sessions join one transaction, rolled back after the test; the test's own session is in it too."""
    engine = app.extensions[database.KEY].engine
    async with engine.connect() as connection:
        transaction = await connection.begin()
        # Each session works in a savepoint of the outer transaction, so its commit is not the test's.
        sessions = async_sessionmaker(bind=connection, expire_on_commit=False, join_transaction_mode="create_savepoint")
        app.extensions[database.KEY] = database.Database(engine, sessions)
        async with sessions() as session:
            yield session
        await transaction.rollback()


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
