"""`make blueprint NAME=...` (scripts/blueprint.py): the scaffold, its refusals, and scaffolding a copy of this repo."""

from __future__ import annotations

import importlib
import shutil
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from myservice import create_app
from myservice.tests.tokens import bearer
from scripts import blueprint, scaffolding
from scripts.project import MAX_NAME_LENGTH, current_name

from .helpers import (
    BIN,
    HOSTILE_VALUES,
    REPO,
    copy_repo,
    lent_auth,
    make,
    refuses_name_as_written,
    run,
    run_project_tests,
    serve_json,
    snapshot,
    trusting_test_issuer,
    write_tree,
)

PACKAGE = "shopfront"
# What the scaffold's views module imports under a lowercase name: a blueprint so named would hide it.
IMPORTED_NAMES = ("abort", "annotations", "dataclass", "problem_response", "validate_querystring", "validate_response")
ORDERS = {"orders": [{"id": 1, "name": "first"}, {"id": 2, "name": "second"}], "limit": 10}


@pytest.fixture(name="project")
def _project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A small importable project whose package is `shopfront`, as the current folder."""
    files = {f"{PACKAGE}/{name}": "" for name in ("__init__.py", "app.py", "views/__init__.py", "tests/__init__.py")}
    # The scaffold imports problem_response from the project's package: this one lends the service's.
    files[f"{PACKAGE}/openapi.py"] = f"from {current_name(REPO)}.openapi import problem_response as problem_response\n"
    files |= lent_auth(PACKAGE, current_name(REPO))
    files["pyproject.toml"] = (REPO / "pyproject.toml").read_text()  # ruff's line limit, as the service's
    root = write_tree(tmp_path / "project", files)
    monkeypatch.chdir(root)
    monkeypatch.syspath_prepend(str(root))
    yield root
    for name in [name for name in sys.modules if name.partition(".")[0] == PACKAGE]:
        del sys.modules[name]


async def test_scaffold_is_served_and_its_test_passes(
    project: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert blueprint.main(["orders"]) == 0
    assert capsys.readouterr().out == f"wrote {PACKAGE}/views/orders.py\nwrote {PACKAGE}/tests/test_orders.py\n"
    views = importlib.import_module(f"{PACKAGE}.views.orders")
    assert (views.orders.name, views.orders.url_prefix) == ("orders", "/orders")
    assert (views.list_orders.__doc__, views.get_order.__doc__) == (
        "List the orders, at most `limit` of them.",
        "Get one of the orders by its id.",
    )
    tests = importlib.import_module(f"{PACKAGE}.tests.test_orders")
    names = sorted(name for name in vars(tests) if name.startswith("test_"))
    assert names == [
        "test_get_order",
        "test_get_order_not_found",
        "test_list_orders",
        "test_list_orders_with_invalid_limit",
        "test_orders_need_a_token_with_their_scope",
    ]
    app = create_app(blueprints=[views.orders], settings={"TESTING": True, **trusting_test_issuer(tmp_path)})
    async with app.test_app():
        client = app.test_client()
        response = await client.get("/orders/", headers=bearer("orders:read"))
        assert (response.status_code, response.content_type, await response.get_json()) == (
            200,
            "application/json",
            ORDERS,
        )
        document = await (await client.get("/openapi.json")).get_json()
        for name in names:
            await getattr(tests, name)(client)
    not_found = document["paths"]["/orders/{order_id}"]["get"]["responses"]["404"]
    assert (not_found["description"], list(not_found["content"])) == (
        "No order has this id.",
        ["application/problem+json"],
    )


@pytest.mark.parametrize(
    ("name", "one"),
    [
        ("orders", "order"),
        ("categories", "category"),
        ("addresses", "address"),
        ("stock", "stock"),
        ("status", "status"),
    ],
)
def test_blueprint_names_one_of_them(name: str, one: str) -> None:
    """get_<one> is named with the singular of the blueprint's name, or the name itself if it is not a plural."""
    assert scaffolding.singular(name) == one


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("", "no name given: run make blueprint NAME=<name>, e.g. make blueprint NAME=orders"),
        ("Orders", "invalid blueprint name 'Orders': use a lowercase letter, then lowercase letters, digits or _"),
        (
            "order-items",
            "invalid blueprint name 'order-items': use a lowercase letter, then lowercase letters, digits or _",
        ),
        ("import", "invalid blueprint name 'import': it is a Python keyword or builtin"),
        ("dict", "invalid blueprint name 'dict': it is a Python keyword or builtin"),
        ("fields", "invalid blueprint name 'fields': the scaffold would define Field, hiding an import"),
        ("blueprints", "invalid blueprint name 'blueprints': the scaffold would define Blueprint, hiding an import"),
        ("annotateds", "invalid blueprint name 'annotateds': the scaffold would define Annotated, hiding an import"),
        *[
            (name, f"invalid blueprint name {name!r}: the scaffold would define {name}, hiding an import")
            for name in IMPORTED_NAMES
        ],
        ("home", f"blueprint 'home' exists already: {PACKAGE}/views/home.py"),
        ("stats", f"blueprint 'stats' exists already: {PACKAGE}/tests/test_stats.py"),
        ("admin", f"blueprint 'admin' exists already: {PACKAGE}/views/admin"),
    ],
)
def test_blueprint_refuses_and_changes_nothing(
    project: Path, capsys: pytest.CaptureFixture[str], name: str, message: str
) -> None:
    views = f"{PACKAGE}/views"
    write_tree(
        project, {f"{views}/home.py": "", f"{PACKAGE}/tests/test_stats.py": "", f"{views}/admin/__init__.py": ""}
    )
    before = snapshot(project)
    assert blueprint.main([name]) == 1
    assert capsys.readouterr() == ("", f"blueprint: {message}\n")
    assert snapshot(project) == before


def test_scaffold_with_the_longest_name_is_formatted_and_lint_clean(project: Path) -> None:
    """A 30-character name makes long lines: ruff wraps them, and nothing is left over the limit."""
    name = ("order_items" * 3)[:MAX_NAME_LENGTH]
    assert blueprint.main([name]) == 0
    for command in (["check"], ["format", "--check"]):
        checked = run([str(BIN / "ruff"), *command, PACKAGE], project)
        assert checked.returncode == 0, checked.stdout


@pytest.mark.parametrize("name", ["aborts", "dataclasses", "annotation", "problem_responses", "validate_responses"])
async def test_scaffold_named_near_an_import_is_served(project: Path, tmp_path: Path, name: str) -> None:
    """A name next to an imported one (its plural, its singular) scaffolds a module that imports and serves."""
    assert blueprint.main([name]) == 0
    views = importlib.import_module(f"{PACKAGE}.views.{name}")
    settings = {"TESTING": True, **trusting_test_issuer(tmp_path)}
    app = create_app(blueprints=[getattr(views, name)], settings=settings)
    async with app.test_app():
        response = await app.test_client().get(f"/{name}/1", headers=bearer(f"{name}:read"))
        assert (response.status_code, response.content_type) == (200, "application/json")
        assert await response.get_json() == {"id": 1, "name": "first"}


def test_make_blueprint_without_name_is_refused(project: Path) -> None:
    result = make(project, "blueprint")
    assert (result.returncode, result.stderr.splitlines()[0]) == (
        2,
        "blueprint: no name given: run make blueprint NAME=<name>, e.g. make blueprint NAME=orders",
    )


@pytest.mark.parametrize("value", HOSTILE_VALUES)
def test_make_blueprint_takes_name_as_written(project: Path, tmp_path: Path, value: str) -> None:
    """A NAME holding shell or make code runs nothing: the script gets the text and refuses it as a name."""
    marker = tmp_path / "pwned"
    name = value.format(marker=marker)
    assert refuses_name_as_written(project, marker, "blueprint", name) == (
        2,
        f"blueprint: invalid blueprint name {name!r}: use a lowercase letter, then lowercase letters, digits or _",
    )


@pytest.mark.slow
def test_make_blueprint_in_a_copy_lints_passes_its_tests_and_serves(tmp_path: Path) -> None:
    """A scaffold in a copy of this repo passes ruff, mypy --strict, its tests and the fuzz pass, and serves."""
    copy = copy_repo(tmp_path / "copy")
    package = current_name(REPO)
    # A name the service has not used for a blueprint or itself (this repo may be a grown service).
    name = next(
        name
        for name in ("parcels", "tickets", "receipts")
        if not (copy / package / "views" / f"{name}.py").exists() and name != package
    )
    result = make(copy, "blueprint", f"NAME={name}")
    assert result.returncode == 0, result.stderr
    new = [f"{package}/views/{name}.py", f"{package}/tests/test_{name}.py"]
    if (REPO / ".mypy_cache").is_dir():  # a warm cache makes mypy take 0.4 s instead of 4 s
        shutil.copytree(REPO / ".mypy_cache", copy / ".mypy_cache")
    for command in (["ruff", "check"], ["ruff", "format", "--check"], ["mypy", "--strict"]):
        checked = run([str(BIN / command[0]), *command[1:], *new], copy)
        assert checked.returncode == 0, checked.stdout
    tests = run_project_tests(copy)
    assert tests.returncode == 0, tests.stdout
    passed = set(tests.stdout.splitlines())
    # The fast fuzz pass covers every route of the discovered blueprints: the scaffold's too.
    item = name.removesuffix("s")
    for test in (f"test_{name}.py::test_get_{item}_not_found", "test_fuzz.py::test_api_contract[positive-short]"):
        assert f"PASSED {package}/tests/{test}" in passed, tests.stdout
    samples = [{"id": 1, "name": "first"}, {"id": 2, "name": "second"}]
    # Served by `make run`'s server with the development settings, to a token from `make token`.
    minted = make(copy, "-s", "token", f"SCOPES={name}:read")
    assert minted.returncode == 0, minted.stderr
    served = serve_json(copy, package, f"/{name}/", minted.stdout.strip())
    assert served == (200, "application/json", {name: samples, "limit": 10})
