"""How Alembic reaches the database: the service's own engine for DATABASE_URL, and the models' metadata.

The URL is the service's setting (settings file, then MYSERVICE_DATABASE_URL), unless the caller
put one in the Alembic config as `sqlalchemy.url` (the tests and `make resource` do). A database that
cannot be reached, or a bad setting, stops the command with one line (Alembic's "FAILED: ...").
"""

from __future__ import annotations

import asyncio
import logging.config
from collections.abc import Mapping
from typing import Any

from alembic import context
from alembic.operations.ops import MigrationScript
from alembic.util import CommandError
from sqlalchemy.engine import Connection

from myservice.database import async_url, create_engine, describe, is_unavailable
from myservice.models import import_models
from myservice.settings import SettingsError, load_settings

config = context.config
if config.config_file_name is not None and config.attributes.get("configure_logger", True):
    logging.config.fileConfig(config.config_file_name, disable_existing_loggers=False)
target_metadata = import_models()


def run_migrations_offline(url: str) -> None:
    """`alembic upgrade --sql`: print the SQL instead of running it."""
    context.configure(url=async_url(url), target_metadata=target_metadata, literal_binds=True)
    with context.begin_transaction():
        context.run_migrations()


def skip_empty(context: Any, revision: Any, directives: list[MigrationScript]) -> None:  # noqa: ANN401  # Alembic's
    """`make db-revision` when the models have not changed: no empty migration is written."""
    if config.cmd_opts is not None and config.cmd_opts.autogenerate and directives[0].upgrade_ops.is_empty():  # type: ignore[union-attr]
        directives[:] = []
        print("No change in the models: no migration written.")


def run_migrations(connection: Connection) -> None:
    """Run the migrations on `connection`, in batch mode on SQLite (which alters a table by copying it)."""
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        process_revision_directives=skip_empty,
    )
    with context.begin_transaction():
        context.run_migrations()


async def run_migrations_online(settings: Mapping[str, object]) -> None:
    """Run the migrations on a connection of the service's engine."""
    engine = create_engine(settings)
    try:
        async with engine.connect() as connection:
            await connection.run_sync(run_migrations)
            await connection.commit()
    except Exception as error:
        if not is_unavailable(error):
            raise
        where = engine.url.render_as_string(hide_password=True)
        raise CommandError(f"the database at {where} is unavailable: {describe(error)}") from None
    finally:
        await engine.dispose()


def main() -> None:
    """Read the settings, then run the migrations online or print them offline."""
    url = config.get_main_option("sqlalchemy.url")
    try:
        settings = load_settings({"DATABASE_URL": url} if url else None)
    except SettingsError as error:
        raise CommandError(str(error)) from None
    if context.is_offline_mode():
        run_migrations_offline(str(settings["DATABASE_URL"]))
    else:
        asyncio.run(run_migrations_online(settings))


main()
