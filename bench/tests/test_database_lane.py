"""The database lane: its apps, its scratch database, its report, its skip when no PostgreSQL answers.

Tests that need PostgreSQL (127.0.0.1:5432, user postgres) use a database of their own, dropped
after them, and are skipped, saying why, when none answers.
"""

from __future__ import annotations

import asyncio
import json
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import ExitStack

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from bench import bench, database_lane, instructions
from bench.bare_database import NAME
from bench.database_lane import PATH
from bench.instructions import have_valgrind
from bench.load import LoadResult
from bench.postgres import SERVER_URL, NoServerError, scratch_database, server_env, server_version
from bench.report import PATHS, Lane, Results, markdown
from bench.resource import ItemRow
from bench.rounds import free_port, serve_all
from bench.servers import Target, serve_line
from myservice.models import import_models
from myservice.settings import ENV_PREFIX

SERVICE, BARE = Target("hypercorn", bare=False, database=True), Target("hypercorn", bare=True, database=True)


def postgresql() -> str:
    """The version of the PostgreSQL the bench uses; the test is skipped, saying why, when none answers."""
    try:
        return server_version()
    except NoServerError as error:
        pytest.skip(str(error))


@pytest.fixture(name="database_url")
def _database_url() -> Iterator[str]:
    """A scratch database of the test's own, with 10 rows, dropped after it."""
    postgresql()
    with scratch_database(rows=10) as url:
        yield url


def scalar(url: str, statement: str) -> object:
    """The first value `statement` gives on the database at `url`."""

    async def run() -> object:
        engine = create_async_engine(url.replace("postgresql://", "postgresql+asyncpg://", 1))
        try:
            async with engine.connect() as connection:
                return (await connection.execute(text(statement))).scalar()
        finally:
            await engine.dispose()

    return asyncio.run(run())


def get(port: int, path: str) -> tuple[int, str, object]:
    """Status, content type and JSON body of GET 127.0.0.1:`port``path`."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=10) as response:
            return response.status, response.headers.get_content_type(), json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, error.headers.get_content_type(), json.loads(error.read())


def test_database_targets_serve_the_bench_apps_on_make_serves_line() -> None:
    """The lane's two targets run `make serve`'s line with the bench's resource app and the bare asyncpg app."""
    service = serve_line(Target("hypercorn", bare=False), 8123)
    assert serve_line(SERVICE, 8123) == service.replace("myservice:create_app", "bench.resource:create_app")
    assert serve_line(BARE, 8123) == service.replace("myservice:create_app", "bench.bare_database:create_app")
    assert (SERVICE.name, BARE.name) == ("hypercorn skeleton + SQLAlchemy", "hypercorn bare + asyncpg")


def test_bench_table_stays_out_of_the_services_models() -> None:
    """The bench's table is the one the bare app reads, and the service's metadata (its migrations) never has it."""
    assert ItemRow.__tablename__ == NAME
    assert NAME not in import_models().tables


def test_both_sides_get_the_same_pool() -> None:
    """Both sides are pointed at the database with the same pool size and no overflow for the service."""
    url = "postgresql://postgres@127.0.0.1:5432/bench"
    env = server_env(url)
    assert env[f"{ENV_PREFIX}DATABASE_URL"] == env["BENCH_DATABASE_URL"] == url
    assert env[f"{ENV_PREFIX}DATABASE_POOL_SIZE"] == env["BENCH_DATABASE_POOL_SIZE"]
    assert env[f"{ENV_PREFIX}DATABASE_MAX_OVERFLOW"] == "0"


def test_no_postgresql_is_one_line_naming_where() -> None:
    """A port where nothing listens is a NoServerError naming the host, port and user."""
    with pytest.raises(NoServerError, match=r"^no PostgreSQL answers on 127\.0\.0\.1:\d+ as user postgres \("):
        server_version(SERVER_URL.replace(":5432/", f":{free_port()}/"))


def test_lane_is_skipped_with_one_line_when_no_postgresql_answers(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Without PostgreSQL the lane prints why it is skipped and gives the reason for the report instead of results."""
    closed = SERVER_URL.replace(":5432/", f":{free_port()}/")
    monkeypatch.setattr(database_lane, "server_version", lambda: server_version(closed))
    args = bench.parse(["--rounds", "1", "--duration", "1"])
    skipped = bench.database_lane("hypercorn", args, [], wrk=False, count=False)
    assert isinstance(skipped, str)
    assert skipped.startswith("no PostgreSQL answers on 127.0.0.1:")
    assert f"Database lane skipped: {skipped}\n" in capsys.readouterr().out


def test_report_gives_the_database_lane_its_ratio_and_counts() -> None:
    """The report's database section has the lane's setup, both sides' numbers, their same-round ratio and counts."""
    targets = [Target("hypercorn", False), Target("hypercorn", True)]
    load = {(t.name, path): [LoadResult(100, 1, 2, 0, 100)] for t in targets for path in PATHS}
    rates = {SERVICE.name: [70, 90, 80], BARE.name: [100, 100, 100]}
    lane_load = {(name, PATH): [LoadResult(r, 3, 9, 0, r) for r in rs] for name, rs in rates.items()}
    counts = {SERVICE.name: 4_000_000, BARE.name: 2_000_000}
    lane = Lane([SERVICE, BARE], PATH, lane_load, {"pool": "10 connections"}, counts)
    text = markdown(Results(targets, load, {t.name: [0.5] for t in targets}, {}, {}, lane))
    assert f"## Database lane: GET {PATH}, one row from PostgreSQL\n\n- pool: 10 connections\n" in text
    assert f"| hypercorn bare + asyncpg | GET {PATH} | 100 | 3.00 | 9.00 | 0 |" in text
    label = f"req/s hypercorn skeleton + SQLAlchemy / hypercorn bare + asyncpg, GET {PATH}"
    assert f"| {label} | 0.80x | 0.70-0.90x |" in text
    assert "| hypercorn skeleton + SQLAlchemy | 4,000,000 |" in text
    assert "Instructions hypercorn bare + asyncpg / hypercorn skeleton + SQLAlchemy: 0.50x." in text


def test_scratch_database_holds_the_rows_and_is_dropped_after() -> None:
    """The scratch database has the bench's table with its rows while in use, and no longer exists after."""
    postgresql()
    with scratch_database(rows=3) as url:
        name = url.rsplit("/", 1)[1]
        assert scalar(url, f"SELECT string_agg(name, ',' ORDER BY id) FROM {NAME}") == "item 1,item 2,item 3"
    assert scalar(SERVER_URL, f"SELECT count(*) FROM pg_database WHERE datname = '{name}'") == 0


def test_scratch_database_is_dropped_when_the_block_fails() -> None:
    """A failure inside the block still drops the database."""
    postgresql()
    names = []

    def fail() -> None:
        with scratch_database(rows=1) as url:
            names.append(url.rsplit("/", 1)[1])
            raise RuntimeError("the bench failed")

    with pytest.raises(RuntimeError, match="the bench failed"):
        fail()
    assert scalar(SERVER_URL, f"SELECT count(*) FROM pg_database WHERE datname = '{names[0]}'") == 0


def test_service_and_bare_app_answer_the_same_row(database_url: str) -> None:
    """Served as `make serve` serves, both sides answer the row as the same JSON; a missing id is a 404 problem."""
    with ExitStack() as stack:
        ports = serve_all(stack, [SERVICE, BARE], {"WORKERS": "1", **server_env(database_url)}, [], [PATH], False)
        answers = [get(ports[target.name], PATH) for target in (SERVICE, BARE)]
        status, content_type, body = get(ports[SERVICE.name], f"/{NAME}/11")
    assert answers == [(200, "application/json", {"id": 1, "name": "item 1"})] * 2
    assert (status, content_type) == (404, "application/problem+json")
    assert isinstance(body, dict)
    assert body["detail"] == "There is no item 11."


@pytest.mark.slow
@pytest.mark.skipif(not have_valgrind(), reason="valgrind is not installed")
def test_instructions_per_database_request_are_counted(monkeypatch: pytest.MonkeyPatch, database_url: str) -> None:
    """Callgrind counts what one GET of a row costs the bare app's server process."""
    monkeypatch.setattr(instructions, "FEW", 5)
    monkeypatch.setattr(instructions, "MANY", 25)
    count = instructions.per_request(BARE, free_port(), {"WORKERS": "1", **server_env(database_url)}, PATH)
    assert 100_000 < count < 20_000_000
