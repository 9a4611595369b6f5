"""Alembic's autogenerate for `make resource`: the project's migrations run on a throwaway SQLite database,
so that a new migration is written against the latest one (and follows it), whatever DATABASE_URL says.

It runs in this process, on the project's own package (the current folder comes first on sys.path).
"""

from __future__ import annotations

import importlib
import io
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager, redirect_stdout
from pathlib import Path

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import Script, ScriptDirectory
from sqlalchemy import MetaData, create_engine

from scripts.project import ProjectError


class Migrations:
    """The project's migrations, upgraded to the latest on a SQLite file in `folder`."""

    def __init__(self, root: Path, package: str, folder: Path) -> None:
        self.package = package
        self.url = f"sqlite:///{folder / 'autogenerate.sqlite'}"
        self.config = Config(root / "alembic.ini")
        self.config.set_main_option("sqlalchemy.url", self.url)
        self.config.attributes["configure_logger"] = False

    def models(self) -> MetaData:
        """The tables of every models module, as the migrations' env.py sees them."""
        importlib.invalidate_caches()  # a models module written since the last import is found
        metadata: MetaData = importlib.import_module(f"{self.package}.models").import_models()
        return metadata

    def pending(self) -> list[object]:
        """What the models have that the migrations do not (nothing, when they match)."""
        engine = create_engine(self.url)
        try:
            with engine.connect() as connection:
                return list(compare_metadata(MigrationContext.configure(connection), self.models()))
        finally:
            engine.dispose()

    def revision(self, message: str) -> Path:
        """Write the migration that autogenerate finds, after the latest; a file left by a failure is removed."""
        versions = Path(ScriptDirectory.from_config(self.config).versions)
        before = set(versions.iterdir())
        try:
            with redirect_stdout(io.StringIO()):  # Alembic's chatter: the script prints what it wrote
                script = command.revision(self.config, message=message, autogenerate=True)
        except BaseException as error:
            for path in set(versions.iterdir()) - before:
                path.unlink()
            if isinstance(error, Exception):
                raise ProjectError(f"autogenerate failed: {type(error).__name__}: {error}") from error
            raise
        if not isinstance(script, Script):
            raise ProjectError(f"autogenerate wrote no migration for {message!r}")
        return Path(script.path)


@contextmanager
def latest(root: Path, package: str) -> Iterator[Migrations]:
    """The migrations of `package`, run up to the latest on a SQLite file that is removed afterwards."""
    with tempfile.TemporaryDirectory(prefix="autogenerate-") as folder:
        migrations = Migrations(root, package, Path(folder))
        try:
            command.upgrade(migrations.config, "head")
        except Exception as error:
            raise ProjectError(f"the migrations do not run: {type(error).__name__}: {error}") from error
        yield migrations
