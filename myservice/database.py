"""The database: one async SQLAlchemy engine per process, one session per request that asks for one.

    from myservice.database import conflict, session

    @orders.post("/orders")
    async def post_order(data: NewOrder) -> tuple[Order, int]:
        row = OrderRow(name=data.name)
        async with conflict(f"An order named {data.name!r} exists."):
            session().add(row)
        return Order.of(row), 201

The request's session is committed when the view answers 2xx or 3xx, rolled back otherwise, and
closed always. A database that cannot be reached is a 503 problem with Retry-After, never a
traceback; `conflict` turns a unique violation into a 409. DATABASE_URL picks the driver:
postgresql:// runs on asyncpg, sqlite:// on aiosqlite.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from quart import Quart, Response, after_this_request, current_app, g
from sqlalchemy import event, exc, text
from sqlalchemy.engine import URL, make_url
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine
from werkzeug.exceptions import Conflict
from werkzeug.wrappers import Response as WerkzeugResponse

from myservice.errors import handle_exception, problem
from myservice.readiness import add_readiness_check

logger = logging.getLogger("myservice.database")
KEY = "database"  # in app.extensions, and the readiness check's name
SESSION = "_database_session"  # in g
DRIVERS = {  # DATABASE_URL's scheme -> SQLAlchemy's async driver for it
    "postgresql": "postgresql+asyncpg",
    "postgresql+asyncpg": "postgresql+asyncpg",
    "sqlite": "sqlite+aiosqlite",
    "sqlite+aiosqlite": "sqlite+aiosqlite",
}
# PostgreSQL error classes that say the server cannot serve now, not that the statement is wrong:
# connection, authorization, resources (too many connections), operator intervention (timeouts, shutdown).
UNAVAILABLE_CLASSES = ("08", "28", "3D", "53", "57")
# SQLite's: busy, locked, I/O error, disk full, cannot open the file.
UNAVAILABLE_SQLITE_CODES = {5, 6, 10, 13, 14}
RETRY_AFTER = "5"
UNAVAILABLE_DETAIL = "The database is unavailable; try again later."
CONFLICT_DETAIL = "The request conflicts with the data the service holds."


class DatabaseUnavailableError(ConnectionError):
    """No connection to the database could be made (refused, unreachable, timed out)."""


@dataclass(frozen=True)
class Database:
    """The process's engine and the factory of its sessions."""

    engine: AsyncEngine
    sessions: async_sessionmaker[AsyncSession]


def async_url(value: str) -> URL:
    """DATABASE_URL with its async driver; a ValueError says what is wrong, never the password."""
    try:
        url = make_url(value)
    except (exc.ArgumentError, ValueError):
        raise ValueError("it is not a URL such as postgresql://user:password@host/name or sqlite:///path") from None
    driver = DRIVERS.get(url.drivername)
    if driver is None:
        raise ValueError(f"its scheme {url.drivername[:40]!r} is not supported; expected postgresql:// or sqlite://")
    if driver.startswith("sqlite") and url.database in (None, "", ":memory:"):
        raise ValueError("an in-memory SQLite database is not shared between connections; give a file path")
    return url.set(drivername=driver)


def check_url(value: object) -> str | None:
    """Why `value` is not a usable DATABASE_URL, or None (the settings' check)."""
    try:
        async_url(str(value))
    except ValueError as error:
        return str(error)
    return None


def create_engine(config: Mapping[str, Any]) -> AsyncEngine:
    """An engine for DATABASE_URL, pooled and bounded in time as the settings say."""
    url = async_url(config["DATABASE_URL"])
    timeout = config["DATABASE_STATEMENT_TIMEOUT"]
    if url.drivername.startswith("sqlite"):
        connect_args: dict[str, Any] = {"timeout": timeout}  # SQLite's bound: how long to wait for a lock
        _make_folder(Path(str(url.database)))
    else:
        statement_timeout = {"statement_timeout": str(max(1, round(timeout * 1000)))}  # milliseconds
        connect_args = {"timeout": config["DATABASE_CONNECT_TIMEOUT"], "server_settings": statement_timeout}
    engine = create_async_engine(
        url,
        pool_size=config["DATABASE_POOL_SIZE"],
        max_overflow=config["DATABASE_MAX_OVERFLOW"],
        pool_timeout=config["DATABASE_POOL_TIMEOUT"],
        connect_args=connect_args,
    )
    event.listen(engine.sync_engine, "do_connect", _connect)
    if url.drivername.startswith("sqlite"):
        event.listen(engine.sync_engine, "connect", _sqlite_connected)
        event.listen(engine.sync_engine, "begin", _sqlite_begin)
    return engine


def init_app(app: Quart) -> None:
    """Open the engine before serving and dispose of it after; answer database errors; check readiness."""

    @app.before_serving
    async def open_engine() -> None:
        engine = create_engine(app.config)
        app.extensions[KEY] = Database(engine, async_sessionmaker(engine, expire_on_commit=False))

    @app.after_serving
    async def dispose_engine() -> None:
        await app.extensions.pop(KEY).engine.dispose()

    for error in (DatabaseUnavailableError, exc.TimeoutError, exc.DBAPIError):
        app.register_error_handler(error, handle_database_error)
    app.teardown_appcontext(close_session)
    add_readiness_check(app, KEY, ping)


def engine() -> AsyncEngine:
    """The process's engine (for statements outside a request, e.g. in a CLI command)."""
    return _database().engine


def sessions() -> async_sessionmaker[AsyncSession]:
    """The session factory: `async with sessions().begin() as session:` outside a request."""
    return _database().sessions


def session() -> AsyncSession:
    """The request's session, opened on first use; committed if the view answers 2xx or 3xx, else rolled back."""
    current: AsyncSession | None = g.get(SESSION)
    if current is None:
        current = sessions()()
        setattr(g, SESSION, current)
        after_this_request(_commit)
    return current


@asynccontextmanager
async def conflict(detail: str) -> AsyncIterator[AsyncSession]:
    """Run the block in a savepoint and flush it: an integrity error (a unique violation) there is a 409."""
    current = session()
    try:
        async with current.begin_nested():
            yield current
    except exc.IntegrityError:
        raise Conflict(detail) from None


async def ping() -> None:
    """The readiness check: SELECT 1 on a connection of the pool."""
    async with engine().connect() as connection:
        await connection.execute(text("SELECT 1"))


async def handle_database_error(error: Exception) -> Response:
    """A database that cannot serve now is a 503 with Retry-After; any other database error a 500."""
    if not is_unavailable(error):
        return await handle_exception(error)
    logger.warning("Database unavailable: %s", describe(error))
    return problem(503, UNAVAILABLE_DETAIL, {"Retry-After": RETRY_AFTER})


def is_unavailable(error: BaseException) -> bool:
    """Whether `error` says the database cannot serve now (rather than that a statement is wrong)."""
    if isinstance(error, DatabaseUnavailableError | exc.TimeoutError):
        return True
    if not isinstance(error, exc.DBAPIError):
        return False
    sqlstate = str(getattr(error.orig, "sqlstate", None) or "")  # asyncpg's
    sqlite_code = getattr(error.orig, "sqlite_errorcode", 0) & 0xFF  # the primary code of an extended one
    return (
        error.connection_invalidated
        or sqlstate.startswith(UNAVAILABLE_CLASSES)
        or sqlite_code in UNAVAILABLE_SQLITE_CODES
    )


async def close_session(_: BaseException | None) -> None:
    """Close the request's session, if it opened one: what was not committed is rolled back."""
    current: AsyncSession | None = g.pop(SESSION, None)
    if current is not None:
        await current.close()


async def _commit(response: Response | WerkzeugResponse) -> Response | WerkzeugResponse:
    """Commit the request's session when the view succeeded; a failing commit is the answer instead."""
    if response.status_code >= 400:
        return response
    try:
        await session().commit()
    except exc.IntegrityError:
        return problem(409, CONFLICT_DETAIL)
    except Exception as error:
        if not is_unavailable(error):
            raise
        return await handle_database_error(error)
    return response


def _database() -> Database:
    database: Database = current_app.extensions[KEY]
    return database


def describe(error: BaseException) -> str:
    """The error in one line: its type and first line, without the statement or its parameters."""
    cause = getattr(error, "orig", None) or error.__cause__ or error
    return f"{type(cause).__name__}: {str(cause).splitlines()[0] if str(cause) else ''}"


def _make_folder(path: Path) -> None:
    """Create the SQLite file's folder; if that fails, connections fail and say why (no crash at start)."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        logger.warning("Cannot create the folder of the SQLite database %s: %s", path, error.strerror)


def _connect(dialect: Any, record: Any, cargs: Any, cparams: Any) -> Any:  # noqa: ANN401  # SQLAlchemy's event
    """Connect; asyncpg raises a refused or timed-out connection as a bare OSError, which is made ours."""
    try:
        return dialect.connect(*cargs, **cparams)
    except OSError as error:
        raise DatabaseUnavailableError(f"cannot connect to the database: {error}") from error


def _sqlite_connected(connection: Any, record: Any) -> None:  # noqa: ANN401  # SQLAlchemy's event
    """Let SQLAlchemy, not the sqlite3 module, begin transactions (so savepoints work); enforce foreign keys."""
    connection.isolation_level = None
    cursor = connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


def _sqlite_begin(connection: Any) -> None:  # noqa: ANN401  # SQLAlchemy's event
    connection.exec_driver_sql("BEGIN")
