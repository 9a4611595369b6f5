"""The pins: requirements*.txt hold exactly what `make requirements` makes of the ranges."""

from __future__ import annotations

import ast
import re

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from myservice.settings import SERVICE

from .helpers import REPO


def setup_ranges() -> list[Requirement]:
    """install_requires of setup.py, read without running it."""
    tree = ast.parse((REPO / "setup.py").read_text())
    call = next(
        node for node in ast.walk(tree) if isinstance(node, ast.Call) and getattr(node.func, "id", "") == "setup"
    )
    requires = next(keyword.value for keyword in call.keywords if keyword.arg == "install_requires")
    return [Requirement(text) for text in ast.literal_eval(requires)]


def dev_ranges() -> list[Requirement]:
    """The test and lint tools' ranges in requirements-dev.in."""
    lines = (REPO / "requirements-dev.in").read_text().splitlines()
    return [Requirement(line.partition("#")[0]) for line in lines if line.partition("#")[0].strip() and line[0] != "-"]


def pins(name: str) -> dict[str, str]:
    """The versions pinned in requirements file `name` for this Python, by canonical package name."""
    found: dict[str, str] = {}
    for line in (REPO / name).read_text().splitlines():
        if line and not line.startswith((" ", "#", "-")):
            requirement = Requirement(line)
            if requirement.marker is None or requirement.marker.evaluate():
                found[canonicalize_name(requirement.name)] = str(requirement.specifier).removeprefix("==")
    return found


@pytest.mark.parametrize("pinned", ["requirements.txt", "requirements-dev.txt"])
def test_every_range_has_a_pin_within_it(pinned: str) -> None:
    """Each range (setup.py for the service, requirements-dev.in for the tools) is pinned inside it."""
    ranges = setup_ranges() if pinned == "requirements.txt" else dev_ranges()
    versions = pins(pinned)
    wrong = [
        f"{requirement} pinned {versions.get(canonicalize_name(requirement.name), 'nowhere')}"
        for requirement in ranges
        if (requirement.marker is None or requirement.marker.evaluate())
        and not requirement.specifier.contains(versions.get(canonicalize_name(requirement.name), "0.dev0"))
    ]
    assert wrong == [], f"run make requirements: {wrong}"


def test_runtime_pins_are_in_the_dev_pins() -> None:
    """The tests run against the versions the image installs."""
    runtime, dev = pins("requirements.txt"), pins("requirements-dev.txt")
    assert {name: dev.get(name) for name in runtime} == runtime


@pytest.mark.parametrize("name", ["requirements.txt", "requirements-dev.txt"])
def test_pins_were_made_by_make_requirements(name: str) -> None:
    """The file's header names the command `make requirements` runs, so re-pinning is that one command."""
    makefile = (REPO / "Makefile").read_text()
    options = re.search(r"^COMPILE = \$\(BIN\)/uv pip compile --quiet (.+?) \$\(if", makefile, re.MULTILINE)
    assert options, "the Makefile's COMPILE line has changed"
    header = (REPO / name).read_text().splitlines()[1]
    assert header.startswith(f"#    uv pip compile {options[1]} "), header
    assert header.endswith(f" -o {name}")


@pytest.mark.parametrize("name", ["requirements.txt", "requirements-dev.txt", "requirements-dev.in"])
def test_pins_do_not_name_the_package(name: str) -> None:
    """`make rename` then leaves them as they are, and .venv is not rebuilt (the package alone is)."""
    # As a whole word, so that a short name is not found inside a longer word.
    as_a_word = re.compile(rf"(?<![a-z0-9]){re.escape(SERVICE)}(?![a-z0-9])", re.IGNORECASE)
    assert not as_a_word.search((REPO / name).read_text())
