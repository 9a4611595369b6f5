"""Blueprint discovery in the views package, and the rule that each blueprint has its tests module."""

from __future__ import annotations

import re
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from myservice.views import find_blueprints

TESTS = Path(__file__).parent


@pytest.fixture(name="package")
def _package(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """An importable, empty package `fakeviews` in a temp dir."""
    (tmp_path / "fakeviews").mkdir()
    (tmp_path / "fakeviews" / "__init__.py").write_text("")
    monkeypatch.syspath_prepend(str(tmp_path))
    yield tmp_path / "fakeviews"
    for name in [name for name in sys.modules if name.partition(".")[0] == "fakeviews"]:
        del sys.modules[name]


def write_module(package: Path, name: str, body: str) -> None:
    (package / f"{name}.py").write_text(f"from quart import Blueprint\n{body}\n")


def test_every_blueprint_has_its_tests_module() -> None:
    missing = [bp.name for bp in find_blueprints() if not (TESTS / f"test_{bp.name}.py").is_file()]
    assert missing == [], f"add myservice/tests/test_<name>.py for each of {missing}"


def test_home_is_found() -> None:
    assert "home" in [blueprint.name for blueprint in find_blueprints()]


def test_found_in_module_name_order(package: Path) -> None:
    write_module(package, "zeta", 'zeta = Blueprint("zeta", __name__)')
    write_module(package, "alpha", 'alpha = Blueprint("alpha", __name__)\nalso = Blueprint("also", __name__)')
    write_module(package, "helpers", "X = 1")
    assert [blueprint.name for blueprint in find_blueprints("fakeviews")] == ["alpha", "also", "zeta"]


def test_imported_blueprint_is_not_counted_twice(package: Path) -> None:
    write_module(package, "orders", 'orders = Blueprint("orders", __name__)')
    write_module(package, "reports", 'from fakeviews.orders import orders\nreports = Blueprint("reports", __name__)')
    assert [blueprint.name for blueprint in find_blueprints("fakeviews")] == ["orders", "reports"]


def test_module_that_fails_to_import_is_named(package: Path) -> None:
    write_module(package, "broken", "import not_a_module_anywhere")
    with pytest.raises(ImportError, match="views module fakeviews.broken failed to import: ModuleNotFoundError"):
        find_blueprints("fakeviews")


def test_duplicate_blueprint_names(package: Path) -> None:
    write_module(package, "first", 'first = Blueprint("orders", __name__)')
    write_module(package, "second", 'second = Blueprint("orders", __name__)')
    with pytest.raises(ImportError, match="'orders' is used by both fakeviews.first and fakeviews.second"):
        find_blueprints("fakeviews")


def test_test_modules_do_not_import_each_other() -> None:
    """Shared asserts and builders live in helpers.py, so each test module stands alone."""
    pattern = re.compile(
        r"^\s*from \.(test_\w+|conftest) import|^\s*from [\w.]+\.tests\.(test_\w+|conftest) import", re.M
    )
    offenders = [path.name for path in sorted(TESTS.glob("*.py")) if pattern.search(path.read_text())]
    assert offenders == [], "move what they share into tests/helpers.py"
