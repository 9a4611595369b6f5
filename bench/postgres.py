"""A PostgreSQL database of the bench's own on 127.0.0.1:5432 (user postgres), filled with rows, dropped after.

The database lane needs a server that trusts the user `postgres` from 127.0.0.1, as the CI's and a
developer's local server do; nothing else is ever connected to.
"""

from __future__ import annotations

import asyncio
import os
import secrets
from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import exc, insert, text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import create_async_engine

from bench.bare_database import POOL_SIZE_VARIABLE, URL_VARIABLE
from bench.resource import Base, ItemRow
from myservice.settings import ENV_PREFIX

SERVER_URL = "postgresql+asyncpg://postgres@127.0.0.1:5432/postgres"
ROWS = 1000
POOL_SIZE = 10  # connections per worker on each side (the service: no overflow), shared by wrk's 32
CONNECT_SECONDS = 3.0


class NoServerError(Exception):
    """No PostgreSQL answers the bench (the message says where and why, in one line)."""


def server_version(server_url: str = SERVER_URL) -> str:
    """The version of the PostgreSQL at `server_url`; NoServerError when none answers there."""
    try:
        return asyncio.run(_execute(server_url, "SHOW server_version")) or ""
    except (OSError, TimeoutError) as error:  # asyncpg's refused or timed-out connection, unwrapped
        why = f"no PostgreSQL answers on {_where(server_url)}"
        raise NoServerError(f"{why} ({type(error).__name__}: {error})") from None
    except exc.DBAPIError as error:  # it answers, but not to the bench (authentication, no such role)
        why = f"PostgreSQL on {_where(server_url)} refuses the bench"
        raise NoServerError(f"{why} ({type(error.orig).__name__}: {error.orig})") from None


@contextmanager
def scratch_database(server_url: str = SERVER_URL, rows: int = ROWS) -> Iterator[str]:
    """A new database on the server at `server_url` holding the bench's table with `rows` rows: its URL."""
    name = f"bench_{os.getpid()}_{secrets.token_hex(3)}"
    asyncio.run(_execute(server_url, f'CREATE DATABASE "{name}"'))
    try:
        url = make_url(server_url).set(database=name).render_as_string(hide_password=False)
        asyncio.run(_fill(url, rows))
        yield url.replace("postgresql+asyncpg://", "postgresql://", 1)  # as an operator writes DATABASE_URL
    finally:
        asyncio.run(_execute(server_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


def server_env(url: str) -> dict[str, str]:
    """The environment that points both sides at the database at `url`, with the same pool."""
    return {
        f"{ENV_PREFIX}DATABASE_URL": url,
        f"{ENV_PREFIX}DATABASE_POOL_SIZE": str(POOL_SIZE),
        f"{ENV_PREFIX}DATABASE_MAX_OVERFLOW": "0",
        URL_VARIABLE: url,
        POOL_SIZE_VARIABLE: str(POOL_SIZE),
    }


async def _execute(server_url: str, statement: str) -> str | None:
    """Run one statement outside a transaction (CREATE and DROP DATABASE refuse to run in one): its first value."""
    engine = create_async_engine(server_url, isolation_level="AUTOCOMMIT", connect_args={"timeout": CONNECT_SECONDS})
    try:
        async with engine.connect() as connection:
            result = await connection.execute(text(statement))
            return str(result.scalar()) if result.returns_rows else None
    finally:
        await engine.dispose()


async def _fill(url: str, rows: int) -> None:
    """Create the bench's table and its rows: item i is named "item i"."""
    engine = create_async_engine(url, connect_args={"timeout": CONNECT_SECONDS})
    try:
        async with engine.begin() as connection:
            await connection.run_sync(Base.metadata.create_all)
            await connection.execute(insert(ItemRow), [{"id": i, "name": f"item {i}"} for i in range(1, rows + 1)])
    finally:
        await engine.dispose()


def _where(server_url: str) -> str:
    """host:port as user U, for messages (never a password)."""
    url = make_url(server_url)
    return f"{url.host}:{url.port} as user {url.username}"
