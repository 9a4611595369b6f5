"""The data layer as views use it: a session per request, committed or rolled back, and clear answers
when the database fails. The routes are the test-only ones of records.py."""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from quart import Quart
from quart.typing import TestClientProtocol as Client
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from myservice import database as data
from myservice.settings import ENV_PREFIX, SettingsError, load_settings

from .helpers import assert_problem, free_port
from .records import Record, RecordsBase, create_records_app

ON_POSTGRESQL = "postgresql" in os.environ.get("TEST_DATABASE_URL", "")


@pytest.fixture(name="app")
async def _app(database_url: str) -> AsyncIterator[Quart]:
    """The service plus the records routes, on the test database."""
    app = create_records_app({"TESTING": False, "DATABASE_URL": database_url})
    async with app.test_app():
        yield app


@pytest.fixture(name="records")
async def _records(database: AsyncSession) -> AsyncSession:
    """The test's session, with the records table created in the test's transaction."""
    await (await database.connection()).run_sync(RecordsBase.metadata.create_all)
    return database


async def count(session: AsyncSession) -> int:
    """How many records the test's transaction holds."""
    return int(await session.scalar(select(func.count()).select_from(Record)) or 0)


async def test_committed_when_the_view_succeeds(client: Client, records: AsyncSession) -> None:
    """A 201 from the view: its row is in the database."""
    response = await client.post("/records/", json={"name": "first"})
    assert response.status_code == 201
    created = await response.get_json()
    assert await records.scalar(select(Record.name).where(Record.id == created["id"])) == "first"


async def test_rolled_back_when_the_view_answers_an_error(client: Client, records: AsyncSession) -> None:
    """The view added a row, then answered 422: the row is gone."""
    response = await client.post("/records/", json={"name": "second", "fail_with": 422})
    await assert_problem(response, 422, "")
    assert await count(records) == 0


async def test_unique_violation_in_conflict_is_a_409(client: Client, records: AsyncSession) -> None:
    """`conflict` turns the second insert of a name into a 409 with its detail; the session goes on working."""
    assert (await client.post("/records/", json={"name": "twice"})).status_code == 201
    response = await client.post("/records/", json={"name": "twice"})
    await assert_problem(response, 409, "A record named 'twice' exists.")
    assert (await client.post("/records/", json={"name": "other"})).status_code == 201
    assert await count(records) == 2


async def test_unique_violation_at_the_commit_is_a_409(client: Client, records: AsyncSession) -> None:
    """A violation that shows only when the request's session commits is a 409 too, not a 500."""
    assert (await client.post("/records/unchecked", json={"name": "late"})).status_code == 201
    response = await client.post("/records/unchecked", json={"name": "late"})
    await assert_problem(response, 409, data.CONFLICT_DETAIL)
    assert await count(records) == 1


async def test_wrong_statement_is_a_500(
    client: Client, records: AsyncSession, caplog: pytest.LogCaptureFixture
) -> None:
    """A statement the database refuses is a bug: a 500 with no SQL in it, the traceback in the log."""
    response = await client.get("/records/boom")
    body = await assert_problem(response, 500, "the error is logged")
    assert "no_such_table" not in str(body)
    assert "no_such_table" in caplog.text


async def test_read_one_and_404(client: Client, records: AsyncSession) -> None:
    """A read sees what an earlier request committed; a missing row is a 404."""
    created = await (await client.post("/records/", json={"name": "read"})).get_json()
    response = await client.get(f"/records/{created['id']}")
    assert response.status_code == 200
    assert await response.get_json() == {"id": created["id"], "name": "read"}
    await assert_problem(await client.get(f"/records/{created['id'] + 1}"), 404, "")


async def test_readyz_checks_the_database(client: Client) -> None:
    """/readyz runs a check named database, which passes on the test database."""
    response = await client.get("/readyz")
    assert response.status_code == 200
    assert (await response.get_json())["checks"]["database"] == "ok"


Answer = tuple[int, dict[str, object], str]


async def unreachable(tmp_path: Path, caplog: pytest.LogCaptureFixture, path: str) -> Answer:
    """Start the service on a PostgreSQL URL where nothing listens (with a password), and GET `path`."""
    url = f"postgresql://app:hunter2@127.0.0.1:{free_port()}/app"
    app = create_records_app({"DATABASE_URL": url, "READINESS_TIMEOUT": 5})
    async with app.test_app():
        response = await app.test_client().get(path)
        body = await response.get_json(force=True)
    assert "hunter2" not in caplog.text
    return response.status_code, body, response.headers.get("Retry-After", "")


async def test_unreachable_database_mid_request_is_a_503(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """No connection to be had: a 503 problem with Retry-After, the reason in the log, no password anywhere."""
    status, body, retry_after = await unreachable(tmp_path, caplog, "/records/1")
    assert (status, body["detail"], retry_after) == (503, data.UNAVAILABLE_DETAIL, data.RETRY_AFTER)
    assert "Database unavailable: ConnectionRefusedError" in caplog.text


async def test_unreachable_database_at_start_fails_readiness(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """The service starts anyway; /readyz names the failing check, and the log says why."""
    status, body, _ = await unreachable(tmp_path, caplog, "/readyz")
    assert status == 503
    assert body["failing"] == ["database"]
    assert body["checks"] == {"database": "error: DatabaseUnavailableError"}
    assert "Connect call failed" in caplog.text


async def test_sqlite_folder_that_cannot_be_made(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """A SQLite file under a file (not a folder): the service starts, /readyz fails, the log says why."""
    (tmp_path / "taken").write_text("")
    app = create_records_app({"DATABASE_URL": f"sqlite:///{tmp_path}/taken/db.sqlite"})
    async with app.test_app():
        response = await app.test_client().get("/readyz")
    assert response.status_code == 503
    assert "Cannot create the folder of the SQLite database" in caplog.text


async def test_pool_exhausted_is_a_503(database_url: str) -> None:
    """Every connection of the pool is in use past DATABASE_POOL_TIMEOUT: a 503, not a request that hangs."""
    settings = {"DATABASE_URL": database_url, "DATABASE_POOL_SIZE": 1, "DATABASE_MAX_OVERFLOW": 0}
    app = create_records_app(settings | {"DATABASE_POOL_TIMEOUT": 0.05})
    async with app.test_app(), app.app_context(), data.engine().connect():  # the pool's only connection
        response = await app.test_client().get("/records/1")
    await assert_problem(response, 503, data.UNAVAILABLE_DETAIL)


@pytest.mark.skipif(not ON_POSTGRESQL, reason="SQLite has no statement timeout (only a wait for locks)")
async def test_statement_timeout_bounds_every_query(database_url: str) -> None:
    """A statement that runs past DATABASE_STATEMENT_TIMEOUT is cancelled by PostgreSQL: a 503."""
    app = create_records_app({"DATABASE_URL": database_url, "DATABASE_STATEMENT_TIMEOUT": 0.05})
    async with app.test_app():
        response = await app.test_client().get("/records/sleep/5.0")
    await assert_problem(response, 503, data.UNAVAILABLE_DETAIL)


async def test_every_session_is_closed(tmp_path: Path) -> None:
    """After requests that commit, roll back and fail, no connection is left checked out of the pool."""
    app = create_records_app({"DATABASE_URL": f"sqlite:///{tmp_path}/closed.sqlite"})
    async with app.test_app():
        engine = app.extensions[data.KEY].engine  # not in an app context: each request must have its own
        async with engine.begin() as connection:
            await connection.run_sync(RecordsBase.metadata.create_all)
        client = app.test_client()
        statuses = [
            (await client.post("/records/", json={"name": "a"})).status_code,
            (await client.post("/records/", json={"name": "a"})).status_code,
            (await client.post("/records/", json={"name": "b", "fail_with": 400})).status_code,
            (await client.get("/records/boom")).status_code,
            (await client.get("/records/1")).status_code,
        ]
        assert statuses == [201, 409, 400, 500, 200]
        assert engine.pool.checkedout() == 0


async def test_session_is_closed_when_the_client_hangs_up(tmp_path: Path) -> None:
    """A client that disconnects while its request's session holds a connection: the connection goes back."""
    app = create_records_app({"DATABASE_URL": f"sqlite:///{tmp_path}/hangup.sqlite"})
    async with app.test_app():
        pool = app.extensions[data.KEY].engine.pool
        async with app.test_client().request("/records/hold") as connection:
            await connection.send_complete()
            async with asyncio.timeout(5):
                while pool.checkedout() == 0:
                    await asyncio.sleep(0.01)
            await connection.disconnect()
        assert pool.checkedout() == 0


async def test_default_database_is_a_file_in_a_folder_of_the_working_directory(tmp_path: Path) -> None:
    """A fresh clone needs no server: the default URL is a SQLite file under ./instance, made on first use."""
    app = create_records_app({})
    async with app.test_app():
        assert (await app.test_client().get("/readyz")).status_code == 200
    assert (tmp_path / "instance").is_dir()


@pytest.mark.parametrize(
    ("url", "why"),
    [
        ("nonsense", "it is not a URL such as postgresql://"),
        ("mysql://app:hunter2@db/app", "its scheme 'mysql' is not supported"),
        ("sqlite://", "an in-memory SQLite database is not shared"),
        ("postgresql://app:hunter2@db:port/app", "it is not a URL"),
    ],
)
def test_malformed_database_url_is_refused_without_its_password(url: str, why: str) -> None:
    """One clear line that names the setting and never shows the value."""
    with pytest.raises(SettingsError) as raised:
        load_settings({"DATABASE_URL": url})
    assert str(raised.value).startswith(f"settings argument: DATABASE_URL has value <secret>: {why}")
    assert "hunter2" not in str(raised.value)


@pytest.mark.parametrize("scheme", ["postgresql", "postgresql+asyncpg"])
def test_postgresql_urls_run_on_asyncpg(scheme: str) -> None:
    """postgresql:// (as PostgreSQL's own tools write it) is used with asyncpg."""
    engine = data.create_engine(load_settings({"DATABASE_URL": f"{scheme}://app:hunter2@db/app"}))
    assert engine.url.drivername == "postgresql+asyncpg"


def test_settings_never_print_the_url() -> None:
    """DATABASE_URL is a secret setting: `quart settings` shows it as <secret>."""
    from click.testing import CliRunner

    from myservice.settings import settings_command

    env = {f"{ENV_PREFIX}DATABASE_URL": "postgresql://app:hunter2@db/app"}
    result = CliRunner().invoke(settings_command, env=env)
    assert "DATABASE_URL: <secret>" in result.output
    assert "hunter2" not in result.output
