"""The migrations: they match the models, run down and up, and fail with one line when they cannot run."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection

from myservice import database
from myservice.models import import_models
from myservice.settings import ENV_PREFIX, load_settings

from .helpers import REPO, free_port, migrate


def migrations() -> ScriptDirectory:
    """The service's migrations, found as `alembic` finds them."""
    return ScriptDirectory.from_config(Config(REPO / "alembic.ini"))


def differences(connection: Connection) -> list[object]:
    """What autogenerate would write to bring the database to the models (nothing, if they match)."""
    return list(compare_metadata(MigrationContext.configure(connection), import_models()))


async def test_models_match_the_migrations(database_url: str) -> None:
    """A database upgraded to the latest migration is what the models describe: autogenerate finds nothing."""
    engine = database.create_engine(load_settings({"DATABASE_URL": database_url}))
    try:
        async with engine.connect() as connection:
            assert await connection.run_sync(differences) == []
    finally:
        await engine.dispose()


def test_every_migration_goes_down_and_up(database_url: str) -> None:
    """Down to an empty database and up again, one migration at a time: every downgrade undoes its upgrade."""
    revisions = list(migrations().walk_revisions())
    for _ in revisions:
        migrate(database_url, "-1", down=True)
    for _ in revisions:
        migrate(database_url, "+1")


def test_one_head() -> None:
    """The migrations form one line: `upgrade head` has one meaning (two heads come from merged branches)."""
    assert len(migrations().get_heads()) <= 1


def test_file_names_are_date_time_slug() -> None:
    """Each migration's file is named `<date>_<time>_<slug>.py`, so the folder lists them in the order written."""
    versions = REPO / "myservice" / "migrations" / "versions"
    names = [path.name for path in versions.glob("*.py") if path.name != "__init__.py"]
    wrong = [name for name in names if not re.fullmatch(r"\d{8}_\d{4}_[a-z0-9_]+\.py", name)]
    assert wrong == []


def alembic(tmp_path: Path, url: str, *args: str) -> subprocess.CompletedProcess[str]:
    """Run the `alembic` command as a user would, from the repository, with DATABASE_URL set to `url`."""
    env = {**os.environ, f"{ENV_PREFIX}DATABASE_URL": url}
    command = [str(Path(sys.executable).parent / "alembic"), "-c", str(REPO / "alembic.ini"), *args]
    return subprocess.run(command, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60, check=False)


def test_unreachable_database_is_one_line_and_a_failure(tmp_path: Path) -> None:
    """`alembic upgrade head` with nothing at the URL: exit status non-zero, one FAILED line, no password."""
    port = free_port()
    result = alembic(tmp_path, f"postgresql://app:hunter2@127.0.0.1:{port}/app", "upgrade", "head")
    assert result.returncode != 0
    assert result.stdout.strip().splitlines() == [
        f"FAILED: the database at postgresql+asyncpg://app:***@127.0.0.1:{port}/app is unavailable: "
        f"ConnectionRefusedError: [Errno 111] Connect call failed ('127.0.0.1', {port})"
    ]


def test_bad_database_url_is_one_line_and_a_failure(tmp_path: Path) -> None:
    """A DATABASE_URL the service would refuse stops a migration the same way, without showing it."""
    result = alembic(tmp_path, "mysql://app:hunter2@db/app", "upgrade", "head")
    assert result.returncode != 0
    assert result.stdout.strip().splitlines() == [
        f"FAILED: environment variable {ENV_PREFIX}DATABASE_URL: DATABASE_URL has value <secret>: "
        "its scheme 'mysql' is not supported; expected postgresql:// or sqlite://"
    ]


def test_upgrade_from_the_command_line(tmp_path: Path) -> None:
    """`alembic upgrade head` on a new SQLite file creates it and records the revision."""
    result = alembic(tmp_path, f"sqlite:///{tmp_path}/new.sqlite", "upgrade", "head")
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "new.sqlite").is_file()
