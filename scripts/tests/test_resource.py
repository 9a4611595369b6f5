"""`make resource NAME=...` (scripts/resource.py): the scaffold, its refusals, and a scaffolded copy of this
repo that passes its suite and lint (SQLite, PostgreSQL, renamed); `make db-upgrade/db-downgrade/db-revision`."""

from __future__ import annotations

import re
import shutil
import sqlite3
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from alembic import command

from myservice import create_app
from myservice.settings import ENV_PREFIX
from myservice.tests.tokens import client_with_token
from scripts import autogenerate, resource
from scripts.formatting import format_files
from scripts.project import MAX_NAME_LENGTH, current_name
from scripts.resource_templates import MODEL, TEST, VIEW
from scripts.scaffolding import placeholders

from .helpers import (
    HOSTILE_VALUES,
    REPO,
    copy_repo,
    free_names,
    git_copy,
    git_status,
    lent_auth,
    make,
    postgres,
    refuses_name_as_written,
    run_project_tests,
    snapshot,
    trusting_test_issuer,
    write_tree,
)

PACKAGE = "shopfront"
OLD = current_name(REPO)
MIGRATION = re.compile(r"\d{8}_\d{4}_add_orders\.py")
# Resource names for copies of this repo: the first one the service has not taken is used.
CANDIDATES = ("parcels", "tickets", "receipts")


@pytest.fixture(name="project")
def _project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A small importable project `shopfront` with the service's models and migrations set-up, as the current folder."""
    migrations = REPO / OLD / "migrations"
    files = {f"{PACKAGE}/{name}": "" for name in ("app.py", "views/__init__.py", "migrations/versions/__init__.py")}
    files |= {f"{PACKAGE}/{name}": "" for name in ("__init__.py", "tests/__init__.py", "migrations/__init__.py")}
    # What the scaffold imports from its package, lent by the service's; the models have a Base of their own.
    files[f"{PACKAGE}/openapi.py"] = f"from {OLD}.openapi import no_content_response, problem_response  # noqa: F401\n"
    files[f"{PACKAGE}/database.py"] = f"from {OLD}.database import conflict, session  # noqa: F401\n"
    files |= lent_auth(PACKAGE, OLD)
    files[f"{PACKAGE}/models/__init__.py"] = (REPO / OLD / "models" / "__init__.py").read_text()
    files[f"{PACKAGE}/migrations/script.py.mako"] = (migrations / "script.py.mako").read_text()
    files[f"{PACKAGE}/migrations/env.py"] = (
        (migrations / "env.py").read_text().replace(f"{OLD}.models", f"{PACKAGE}.models")
    )
    files["alembic.ini"] = (REPO / "alembic.ini").read_text().replace(f"{OLD}:migrations", f"{PACKAGE}:migrations")
    files["pyproject.toml"] = (REPO / "pyproject.toml").read_text()  # ruff's line limit, as the service's
    root = write_tree(tmp_path / "project", files)
    monkeypatch.chdir(root)
    monkeypatch.syspath_prepend(str(root))
    monkeypatch.setattr(sys, "dont_write_bytecode", True)  # snapshots compare the files the scaffold writes
    yield root
    for name in [name for name in sys.modules if name.partition(".")[0] == PACKAGE]:
        del sys.modules[name]


def contents(project: Path) -> dict[str, bytes]:
    """The project's files and their bytes, but ruff's cache (which Alembic's formatting hook leaves)."""
    return {name: data for name, data in snapshot(project).items() if not name.startswith(".ruff_cache/")}


def test_scaffold_writes_model_views_tests_and_migration(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Four files, each named in the output; the migration is the first and makes the database match the models."""
    assert resource.main(["orders"]) == 0
    [migration] = (project / PACKAGE / "migrations" / "versions").glob("*_add_orders.py")
    assert MIGRATION.fullmatch(migration.name)
    views, model, tests = (
        f"{PACKAGE}/{folder}/{name}.py"
        for folder, name in [("views", "orders"), ("models", "orders"), ("tests", "test_orders")]
    )
    out = capsys.readouterr().out.splitlines()
    assert out == [f"wrote {path}" for path in (model, views, tests)] + [
        f"wrote {migration.relative_to(project)}",
        resource.THEN,
    ]
    assert "down_revision: str | Sequence[str] | None = None" in migration.read_text()
    with autogenerate.latest(project, PACKAGE) as history:
        assert history.pending() == []
        assert list(history.models().tables["orders"].columns.keys()) == ["id", "name", "note", "created_at"]


@pytest.fixture(name="migrated")
def _migrated(project: Path, tmp_path: Path) -> str:
    """The URL of a SQLite database upgraded to the head that `make resource orders` wrote (outside any event loop)."""
    assert resource.main(["orders"]) == 0
    history = autogenerate.Migrations(project, PACKAGE, tmp_path)
    command.upgrade(history.config, "head")
    return history.url


async def test_scaffold_serves_every_route(migrated: str, tmp_path: Path) -> None:
    """On a database migrated to the new head: create (201 and Location), read, list, change, delete (204)."""
    from shopfront.views import orders  # type: ignore[import-not-found]  # written by the fixture

    settings = {"TESTING": True, "DATABASE_URL": migrated, **trusting_test_issuer(tmp_path)}
    app = create_app(blueprints=[orders.orders], settings=settings)
    async with app.test_app():
        client = client_with_token(app, "orders:read", "orders:write")
        created = await client.post("/orders/", json={"name": "tea"})
        assert (created.status_code, created.headers["Location"]) == (201, "/orders/1")
        assert (await (await client.get("/orders/1")).get_json())["name"] == "tea"
        page = await (await client.get("/orders/")).get_json()
        assert ([item["id"] for item in page["orders"]], page["next_after"]) == ([1], None)
        changed = await client.patch("/orders/1", json={"note": "green"})
        assert (await changed.get_json())["note"] == "green"
        assert (await client.delete("/orders/1")).status_code == 204
        assert (await client.get("/orders/1")).status_code == 404


@pytest.mark.parametrize(
    ("files", "name", "message"),
    [
        ({}, "", "no name given: run make resource NAME=<name>, e.g. make resource NAME=orders"),
        ({}, "Orders", "invalid resource name 'Orders': use a lowercase letter, then lowercase letters, digits or _"),
        ({}, "import", "invalid resource name 'import': it is a Python keyword or builtin"),
        ({}, "select", "invalid resource name 'select': the scaffold would define select, hiding an import"),
        ({}, "fields", "invalid resource name 'fields': the scaffold would define Field, hiding an import"),
        ({}, "session", "invalid resource name 'session': the scaffold would define session, hiding an import"),
        ({"views/orders.py": ""}, "orders", f"resource 'orders' exists already: {PACKAGE}/views/orders.py"),
        ({"models/orders.py": ""}, "orders", f"resource 'orders' exists already: {PACKAGE}/models/orders.py"),
        ({"tests/test_orders.py": ""}, "orders", f"resource 'orders' exists already: {PACKAGE}/tests/test_orders.py"),
        ({"views/orders/__init__.py": ""}, "orders", f"resource 'orders' exists already: {PACKAGE}/views/orders"),
        (
            {"migrations/versions/20250101_0000_add_orders.py": ""},
            "orders",
            f"resource 'orders' exists already: {PACKAGE}/migrations/versions/20250101_0000_add_orders.py",
        ),
    ],
)
def test_resource_refuses_and_changes_nothing(
    project: Path, capsys: pytest.CaptureFixture[str], files: dict[str, str], name: str, message: str
) -> None:
    """An empty, invalid or taken name, or one whose module would hide an import: one line, status 1, no file."""
    write_tree(project / PACKAGE, files)
    before = contents(project)
    assert resource.main([name]) == 1
    assert capsys.readouterr() == ("", f"resource: {message}\n")
    assert contents(project) == before


TABLE = """from sqlalchemy.orm import Mapped, mapped_column

from shopfront.models import Base


class Other(Base):
    __tablename__ = "{table}"
    id: Mapped[int] = mapped_column(primary_key=True)
"""


@pytest.mark.parametrize(
    ("table", "message"),
    [
        ("orders", "resource 'orders' exists already: a model defines the table 'orders'"),
        ("others", 'the models have changes that no migration holds: run make db-revision MSG="..." first'),
    ],
)
def test_resource_refuses_a_taken_table_or_models_ahead_of_the_migrations(
    project: Path, capsys: pytest.CaptureFixture[str], table: str, message: str
) -> None:
    """A table of that name, or a model that no migration creates yet: refused before anything is written."""
    write_tree(project / PACKAGE, {"models/shop.py": TABLE.format(table=table)})
    before = contents(project)
    assert resource.main(["orders"]) == 1
    assert capsys.readouterr().err.startswith(f"resource: {message}")
    assert contents(project) == before


def test_resource_refuses_when_the_migrations_do_not_run(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Migrations that fail on an empty database: refused with the reason, before anything is written."""
    broken = 'revision = "broken"\ndown_revision = None\n\n\ndef upgrade() -> None:\n    raise ValueError("no")\n'
    write_tree(project / PACKAGE, {"migrations/versions/20250101_0000_broken.py": broken})
    before = contents(project)
    assert resource.main(["orders"]) == 1
    assert capsys.readouterr().err == "resource: the migrations do not run: ValueError: no\n"
    assert contents(project) == before


def test_resource_that_makes_lines_too_long_is_undone(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Lines no formatter can shorten (here, a project whose limit is 60 columns): refused, and no file is left."""
    (project / "pyproject.toml").write_text("[tool.ruff]\nline-length = 60\n")
    before = contents(project)
    assert resource.main(["orders"]) == 1
    error = capsys.readouterr().err
    assert error.startswith(
        f"resource: the resource name 'orders' makes lines too long, which no formatter can fix: {PACKAGE}/"
    )
    assert contents(project) == before


def test_failure_midway_removes_every_file_written(
    project: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Autogenerate failing after writing part of its migration: one line, status 1, and none of the files remain."""
    real = command.revision

    def half_written(config: object, **options: object) -> None:
        real(config, **options)  # type: ignore[arg-type]
        raise RuntimeError("disk full")

    monkeypatch.setattr(command, "revision", half_written)
    before = contents(project)
    assert resource.main(["orders"]) == 1
    assert capsys.readouterr().err == "resource: autogenerate failed: RuntimeError: disk full\n"
    assert contents(project) == before


@pytest.mark.parametrize("name", [MAX_NAME_LENGTH * "x", ("order_items" * 3)[:MAX_NAME_LENGTH]])
def test_longest_names_stay_within_the_line_limit(tmp_path: Path, name: str) -> None:
    """A 30-character resource in a 30-character package: ruff wraps every line under 120 columns."""
    names = placeholders(name)
    files = [tmp_path / f"{kind}.py" for kind in ("model", "view", "test")]
    for path, template in zip(files, (MODEL, VIEW, TEST), strict=True):
        path.write_text(template.format(package="p" * MAX_NAME_LENGTH, **names))
    shutil.copy(REPO / "pyproject.toml", tmp_path)
    assert format_files(files, tmp_path) == []


@pytest.mark.parametrize("value", HOSTILE_VALUES)
def test_make_resource_takes_name_as_written(project: Path, tmp_path: Path, value: str) -> None:
    """A NAME holding shell or make code runs nothing: the script gets the text and refuses it as a name."""
    marker = tmp_path / "pwned"
    name = value.format(marker=marker)
    assert refuses_name_as_written(project, marker, "resource", name) == (
        2,
        f"resource: invalid resource name {name!r}: use a lowercase letter, then lowercase letters, digits or _",
    )


@pytest.fixture(name="clean_copy", scope="module")
def _clean_copy(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of this repo under git, shared by the refusal tests (each leaves it as committed)."""
    return git_copy(tmp_path_factory.mktemp("clean") / "copy")


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("", "no name given: run make resource NAME=<name>, e.g. make resource NAME=orders"),
        ("9lives", "invalid resource name '9lives': use a lowercase letter, then lowercase letters, digits or _"),
        ("x" * (MAX_NAME_LENGTH + 1), f"invalid resource name {'x' * 31!r}: use at most {MAX_NAME_LENGTH} characters"),
        ("conflict", "invalid resource name 'conflict': the scaffold would define conflict, hiding an import"),
        ("home", f"resource 'home' exists already: {OLD}/views/home.py"),
        ("app", f"resource 'app' exists already: {OLD}/tests/test_app.py"),
    ],
)
def test_make_resource_in_a_copy_refuses_and_leaves_no_file(clean_copy: Path, name: str, message: str) -> None:
    """In a copy of this repo, a refused name: make's status 2, the script's one line, and git sees no change."""
    result = make(clean_copy, "resource", f"NAME={name}")
    assert (result.returncode, result.stderr.splitlines()[0]) == (2, f"resource: {message}")
    assert git_status(clean_copy) == ""


def free_resource(root: Path) -> str:
    """The first candidate resource name that `root`'s service has no model, view or tests module for."""
    package = root / current_name(root)
    taken = {path.stem.removeprefix("test_") for path in package.glob("*/*.py")}
    return next(name for name in CANDIDATES if name not in taken)


@pytest.fixture(name="scaffolded", scope="module")
def _scaffolded(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """A copy of this repo with a resource scaffolded by `make resource`, and the resource's name."""
    copy = copy_repo(tmp_path_factory.mktemp("scaffolded") / "copy")
    name = free_resource(copy)
    result = make(copy, "resource", f"NAME={name}")
    assert result.returncode == 0, result.stderr
    if (REPO / ".mypy_cache").is_dir():  # a warm cache makes mypy take seconds instead of a minute
        shutil.copytree(REPO / ".mypy_cache", copy / ".mypy_cache")
    return copy, name


def assert_passed(output: str, package: str, *tests: str) -> None:
    """Each of `tests` (paths below the package's tests) is reported PASSED in pytest's -rA `output`."""
    passed = set(output.splitlines())
    missing = [test for test in tests if f"PASSED {package}/tests/{test}" not in passed]
    assert missing == [], output


@pytest.mark.slow
def test_scaffolded_copy_passes_its_suite(scaffolded: tuple[Path, str]) -> None:
    """Right after `make resource`, the copy's fast suite passes (the fuzz pass, models == migrations, each
    migration down and up), on a PostgreSQL database of this test's own when a server answers, else on SQLite."""
    copy, name = scaffolded
    database = f"resource_{uuid.uuid4().hex[:12]}"
    on_postgresql = postgres(f"CREATE DATABASE {database}")
    try:
        url = f"postgresql://postgres@127.0.0.1:5432/{database}"
        tests = run_project_tests(copy, env={"TEST_DATABASE_URL": url} if on_postgresql else {})
    finally:
        if on_postgresql:
            postgres(f"DROP DATABASE IF EXISTS {database} WITH (FORCE)")
    assert tests.returncode == 0, tests.stdout
    item = name.removesuffix("s")
    assert_passed(
        tests.stdout,
        OLD,
        f"test_{name}.py::test_post_{item}",
        f"test_{name}.py::test_{item}_not_found[PATCH]",
        "test_migrations.py::test_models_match_the_migrations",
        "test_migrations.py::test_every_migration_goes_down_and_up",
        "test_fuzz.py::test_api_contract[negative-short]",
    )


@pytest.mark.slow
def test_scaffolded_copy_passes_the_long_fuzz(scaffolded: tuple[Path, str]) -> None:
    """The copy's fuzzing with SLOW=1 (many cases per operation) and the resource's tests pass."""
    copy, name = scaffolded
    tests = run_project_tests(copy, f"{OLD}/tests/test_fuzz.py", f"{OLD}/tests/test_{name}.py", slow=True)
    assert tests.returncode == 0, tests.stdout
    assert_passed(tests.stdout, OLD, "test_fuzz.py::test_api_contract[positive-long]")


@pytest.mark.slow
def test_scaffolded_then_renamed_copy_passes_its_suite_and_lint(tmp_path: Path) -> None:
    """`make resource` then `make rename`: the renamed service passes its fast suite and `make lint` (the
    scaffold's lint before the rename is the same code under the old name)."""
    copy = copy_repo(tmp_path / "copy")
    name = free_resource(copy)
    assert make(copy, "resource", f"NAME={name}").returncode == 0
    [new] = free_names(copy, 1)
    renamed = make(copy, "rename", f"NAME={new}")
    assert renamed.returncode == 0, renamed.stderr
    tests = run_project_tests(copy)
    assert tests.returncode == 0, tests.stdout
    assert_passed(tests.stdout, new, f"test_{name}.py::test_delete_{name.removesuffix('s')}")
    lint = make(copy, "lint")
    assert lint.returncode == 0, lint.stdout + lint.stderr


def tables(path: Path) -> set[str]:
    """The tables of the SQLite file at `path`, but Alembic's own."""
    with sqlite3.connect(path) as connection:
        rows = connection.execute("SELECT name FROM sqlite_master WHERE type = 'table'").fetchall()
    return {name for (name,) in rows} - {"alembic_version"}


@pytest.mark.slow
def test_db_upgrade_downgrade_and_revision_as_a_user_runs_them(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """After `make resource`: db-upgrade adds its table to the default SQLite file, db-downgrade drops it,
    and a column added to the model is a new migration from db-revision, named <date>_<time>_<slug>.py."""
    monkeypatch.delenv(f"{ENV_PREFIX}DATABASE_URL", raising=False)
    copy = copy_repo(tmp_path / "copy")
    name = free_resource(copy)
    database = copy / "instance" / f"{OLD}.sqlite"
    assert make(copy, "db-upgrade").returncode == 0
    existing = tables(database)  # the service's own tables, if it has resources already
    assert make(copy, "resource", f"NAME={name}").returncode == 0
    for target, added in [("db-upgrade", {name}), ("db-downgrade", set()), ("db-upgrade", {name})]:
        result = make(copy, target)
        assert result.returncode == 0, result.stdout + result.stderr
        assert tables(database) == existing | added
    model = copy / OLD / "models" / f"{name}.py"
    model.write_text(model.read_text() + "    colour: Mapped[str | None] = mapped_column(String(20))\n")
    versions = copy / OLD / "migrations" / "versions"
    before = set(versions.glob("*.py"))
    result = make(copy, "db-revision", "MSG=add colour")
    assert result.returncode == 0, result.stdout + result.stderr
    [migration] = set(versions.glob("*.py")) - before
    assert re.fullmatch(r"\d{8}_\d{4}_add_colour\.py", migration.name)
    assert 'sa.Column("colour", sa.String(length=20), nullable=True)' in migration.read_text()
    assert make(copy, "db-upgrade").returncode == 0
    with sqlite3.connect(database) as connection:
        assert "colour" in [row[1] for row in connection.execute(f"PRAGMA table_info({name})")]


def test_db_revision_without_a_message_or_a_change_says_so(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """`make db-revision` with no MSG is refused; with models that match the migrations it writes nothing."""
    monkeypatch.delenv(f"{ENV_PREFIX}DATABASE_URL", raising=False)
    copy = copy_repo(tmp_path / "copy")
    result = make(copy, "db-revision")
    assert result.returncode == 2
    assert 'MSG is empty; say what the migration does: make db-revision MSG="add orders"' in result.stderr
    versions = sorted((copy / OLD / "migrations" / "versions").iterdir())
    assert make(copy, "db-upgrade").returncode == 0  # autogenerate compares the models with an up-to-date database
    result = make(copy, "db-revision", "MSG=nothing new")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "No change in the models: no migration written." in result.stdout
    assert sorted((copy / OLD / "migrations" / "versions").iterdir()) == versions
