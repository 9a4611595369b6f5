"""The README and docs/: links that resolve, a settings table that matches SCHEMA, and the make targets."""

from __future__ import annotations

import importlib
import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest

from myservice import create_app
from myservice.settings import ENV_PREFIX, SCHEMA, SERVICE, Value

from .helpers import REPO
from .tokens import bearer

README = REPO / "README.md"
DOCS = REPO / "docs"
SETTINGS_PAGE = DOCS / "settings.md"
PAGES = [README, *sorted(DOCS.glob("*.md"))]

FENCE = re.compile(r"^```.*?^```", re.MULTILINE | re.DOTALL)
LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)\)")
HEADING = re.compile(r"^#{1,6}\s+(.+?)\s*#*\s*$", re.MULTILINE)
CODE = re.compile(r"`([^`]*)`")
MAKE_HELP = re.compile(r"^([a-z-]+):.*## ", re.MULTILINE)
MAKE_TARGET = re.compile(r"`make ([a-z-]+)")
SETTINGS_HEADER = ["key", "default", "meaning", "env var"]


def prose(page: Path) -> str:
    """The page's text without its fenced code blocks, where brackets are code, not links."""
    return FENCE.sub("", page.read_text())


def slug(heading: str) -> str:
    """GitHub's anchor for a heading: lowercase, punctuation dropped, spaces as hyphens."""
    text = re.sub(r"[^\w\- ]", "", heading.replace("`", "").strip().lower())
    return text.replace(" ", "-")


def anchors(page: Path) -> set[str]:
    """The anchors of every heading of a page, numbered as GitHub numbers repeated ones."""
    found: set[str] = set()
    for heading in HEADING.findall(prose(page)):
        base = slug(heading)
        anchor, count = base, 0
        while anchor in found:
            count += 1
            anchor = f"{base}-{count}"
        found.add(anchor)
    return found


def broken_links(page: Path) -> list[str]:
    """The relative links of a page whose file or heading does not exist."""
    broken = []
    for target in LINK.findall(prose(page)):
        if re.match(r"[a-z]+:", target):
            continue
        path, _, anchor = target.partition("#")
        linked = (page.parent / path).resolve() if path else page
        if not linked.exists() or (anchor and (linked.suffix != ".md" or anchor not in anchors(linked))):
            broken.append(target)
    return broken


def section(page: Path, title: str) -> str:
    """The text of a page under the `##` heading `title`, up to the next heading of that level."""
    match = re.search(rf"^## {re.escape(title)}\n(.*?)(?=^## |\Z)", page.read_text(), re.MULTILINE | re.DOTALL)
    assert match, f"{page.relative_to(REPO)} has no '## {title}' section"
    return match[1]


def table_rows(text: str, header: list[str]) -> list[list[str]]:
    """The cells of each row of the first Markdown table in `text` with the given header."""
    rows: list[list[str]] | None = None
    for line in text.splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")] if line.startswith("|") else None
        if rows is None and cells == header:
            rows = []
        elif rows is not None and cells is None:
            break
        elif rows is not None and cells is not None and not set("".join(cells)) <= set("-:"):
            rows.append(cells)
    assert rows is not None, f"no table with the header {header}"
    return rows


def settings_rows() -> list[list[str]]:
    """The rows of the settings table in docs/settings.md, each with its key unquoted."""
    rows = table_rows(SETTINGS_PAGE.read_text(), SETTINGS_HEADER)
    assert all(len(row) == len(SETTINGS_HEADER) for row in rows), f"a row of docs/settings.md has not 4 cells: {rows}"
    return [[row[0].strip("`"), *row[1:]] for row in rows]


def settings_table() -> dict[str, list[str]]:
    """The rows of the settings table for the keys of SCHEMA, by key."""
    return {row[0]: row for row in settings_rows() if row[0] in SCHEMA}


def rendered(default: Value) -> str:
    """A default as the table shows it: strings as they are, everything else as JSON."""
    return default if isinstance(default, str) else json.dumps(default)


@pytest.mark.parametrize("page", PAGES, ids=lambda page: str(page.relative_to(REPO)))
def test_relative_links_resolve(page: Path) -> None:
    """Every relative link of the README and docs/ names an existing file and, if any, one of its headings."""
    broken = broken_links(page)
    assert broken == [], f"links in {page.relative_to(REPO)} to a missing file or heading: {broken}"


def test_every_docs_page_is_linked_from_the_readme() -> None:
    """Each page in docs/ is reachable from the README's links."""
    linked = {(REPO / target.partition("#")[0]).resolve() for target in LINK.findall(prose(README))}
    orphans = [page.name for page in DOCS.glob("*.md") if page.resolve() not in linked]
    assert orphans == [], f"link these pages from README.md: {orphans}"


def test_settings_table_lists_every_setting_and_nothing_else() -> None:
    """The settings table in docs/settings.md has one row per key of SCHEMA, and no other row."""
    keys = [row[0] for row in settings_rows()]
    missing = [key for key in SCHEMA if key not in keys]
    unknown = [key for key in keys if key not in SCHEMA]
    repeated = sorted({key for key in keys if keys.count(key) > 1})
    assert missing == [], f"settings missing from the table in docs/settings.md: {missing}"
    assert unknown == [], f"rows in docs/settings.md for settings that SCHEMA does not have: {unknown}"
    assert repeated == [], f"settings with more than one row in docs/settings.md: {repeated}"


def test_settings_table_shows_each_default() -> None:
    """Each row's default cell starts with the setting's default in backticks: strings as they are, else JSON."""
    wrong: dict[str, str] = {}
    for key, row in settings_table().items():
        shown, expected = CODE.match(row[1]), rendered(SCHEMA[key].default)
        if shown is None or shown[1] != expected:
            wrong[key] = f"shows {row[1]}, expected `{expected}`"
    assert wrong == {}, f"defaults in docs/settings.md that differ from SCHEMA: {wrong}"


def test_settings_table_names_each_env_var() -> None:
    """Each row's env var is the package's prefix plus the key, the variable the service reads."""
    wrong = {key: row[3] for key, row in settings_table().items() if row[3] != f"`{ENV_PREFIX}{key}`"}
    assert wrong == {}, f"env vars in docs/settings.md that are not `{ENV_PREFIX}<KEY>`: {wrong}"


def test_settings_table_lists_each_choice() -> None:
    """A setting with a fixed set of values names each of them, in backticks, in its row's meaning."""
    rows = settings_table()
    missing = {
        key: unnamed
        for key, setting in SCHEMA.items()
        if key in rows and (unnamed := [choice for choice in setting.choices if f"`{choice}`" not in rows[key][2]])
    }
    assert missing == {}, f"values missing from the meaning of these settings in docs/settings.md: {missing}"


def test_readme_lists_every_make_target() -> None:
    """The README's targets table holds exactly the targets that `make help` lists, one per row."""
    listed = set(MAKE_HELP.findall((REPO / "Makefile").read_text()))
    rows = table_rows(section(README, "Make targets"), ["target", "what it does"])
    matches = [MAKE_TARGET.match(row[0]) for row in rows]
    assert None not in matches, "every row of the README's targets table starts with `make <target>`"
    documented = {match[1] for match in matches if match}
    undocumented, unknown = sorted(listed - documented), sorted(documented - listed)
    assert undocumented == [], f"targets in `make help` but not in README.md's targets table: {undocumented}"
    assert unknown == [], f"targets in README.md's targets table that `make help` does not list: {unknown}"


def test_every_runtime_dependency_is_explained() -> None:
    """Each package that setup.py requires has a row in docs/dependencies.md saying why."""
    setup = re.search(r"install_requires=\[(.*?)^\s*\]", (REPO / "setup.py").read_text(), re.MULTILINE | re.DOTALL)
    assert setup, "setup.py has no install_requires list"
    required = re.findall(r'^\s+"([A-Za-z0-9_.-]+)', setup[1], re.MULTILINE)
    assert required, "no package found in setup.py's install_requires"
    rows = table_rows((DOCS / "dependencies.md").read_text(), ["package", "why"])
    documented = {name.lower() for row in rows for name in re.findall(r"[A-Za-z0-9_.-]+", row[0])}
    missing = [name for name in required if name.lower() not in documented]
    assert missing == [], f"packages of setup.py with no row in docs/dependencies.md: {missing}"


def example(page: Path, title: str) -> str:
    """The first Python code block of the section `title` of `page`."""
    found = re.search(r"^```python\n(.*?)^```", section(page, title), re.MULTILINE | re.DOTALL)
    assert found, f"{page.name} has no Python example under {title!r}"
    return found[1]


@pytest.fixture(name="state_example")
def _state_example(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[ModuleType]:
    """growing.md's per-process state example, as an importable module."""
    (tmp_path / "state_example.py").write_text(example(DOCS / "growing.md", "Keeping per-process state"))
    monkeypatch.syspath_prepend(str(tmp_path))
    yield importlib.import_module("state_example")
    del sys.modules["state_example"]


async def test_per_process_state_example_opens_serves_and_closes(state_example: ModuleType) -> None:
    """The example works as written: its executor opens before serving, serves, and is shut down after."""
    app = create_app(blueprints=[state_example.reports], settings={"TESTING": True})
    async with app.test_app():
        executor = app.extensions[state_example.EXECUTOR]
        response = await app.test_client().get("/reports/", headers=bearer("reports:read"))
        assert (response.status_code, await response.get_json()) == (200, {"lines": 1000})
    with pytest.raises(RuntimeError, match="after shutdown"):
        executor.submit(print)


@pytest.mark.slow
def test_per_process_state_example_passes_mypy_strict(state_example: ModuleType) -> None:
    """Its typed accessor keeps views type-checked (mypy --strict, as `make lint` runs it)."""
    command = [sys.executable, "-m", "mypy", "--strict", "--no-incremental", str(state_example.__file__)]
    # From the repository, as `make lint` runs it: mypy then finds the package's types.
    checked = subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=120, check=False)
    assert checked.returncode == 0, checked.stdout


# conftest.py for services.md's example: create_app finds the example's blueprint as if it were in views/.
SERVICES_EXAMPLE_CONFTEST = f"""
import pytest
from {SERVICE} import app
from prices_example import prices


@pytest.fixture(autouse=True)
def _prices_in_views(monkeypatch):
    found = app.find_blueprints
    monkeypatch.setattr(app, "find_blueprints", lambda: [*found(), prices])
"""


@pytest.fixture(name="services_example")
def _services_example(tmp_path: Path) -> Path:
    """services.md's example view, its example tests (importing the test server by its absolute name), and
    what pytest needs to run them, in a folder."""
    (tmp_path / "prices_example.py").write_text(example(DOCS / "services.md", "A full example view"))
    tests = example(DOCS / "services.md", "Testing it").replace("from .", f"from {SERVICE}.tests.")
    (tmp_path / "test_prices_example.py").write_text(tests)
    (tmp_path / "conftest.py").write_text(SERVICES_EXAMPLE_CONFTEST)
    (tmp_path / "pytest.ini").write_text(
        "[pytest]\nasyncio_mode = auto\nasyncio_default_fixture_loop_scope = function\n"
    )
    return tmp_path


@pytest.mark.slow
def test_services_example_passes_its_tests(services_example: Path) -> None:
    """The example view of docs/services.md passes the example tests beside it, against a real server."""
    command = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(services_example)]
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    run = subprocess.run(
        command, cwd=services_example, env=env, capture_output=True, text=True, timeout=120, check=False
    )
    assert run.returncode == 0, run.stdout + run.stderr
    assert "3 passed" in run.stdout


@pytest.mark.slow
def test_services_example_passes_mypy_strict(services_example: Path) -> None:
    """The example view is typed: mypy --strict, as `make lint` runs it."""
    command = [
        sys.executable,
        "-m",
        "mypy",
        "--strict",
        "--no-incremental",
        str(services_example / "prices_example.py"),
    ]
    # From the repository, as `make lint` runs it: mypy then finds the package's types.
    checked = subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=120, check=False)
    assert checked.returncode == 0, checked.stdout
