"""The project as the scripts see it: its package, its own files, and the names it may take.

Stdlib only, like the scripts that use it.
"""

from __future__ import annotations

import builtins
import functools
import importlib.metadata
import importlib.util
import keyword
import os
import re
import sys
from pathlib import Path

# Not the project's own text: version control (a worktree's .git is a file), virtualenvs, caches, builds.
SKIPPED_DIRS = {".git", ".hg", ".venv", "venv", "node_modules", "build", "dist", "__pycache__", ".tox", ".nox"}
SKIPPED_SUFFIXES = (".egg-info", "_cache")
IDENTIFIER = re.compile(r"[a-z][a-z0-9_]*")
# Longer names would push string and comment lines past ruff's 120 columns, which no formatter can
# fix; scripts/tests/test_rename.py renames a copy of this repo to a name this long and lints it.
MAX_NAME_LENGTH = 30


class ProjectError(Exception):
    """A name or a project state that a script refuses, with a one-line reason."""


def current_name(root: Path) -> str:
    """The service's package: the one top-level folder holding both `__init__.py` and `app.py`."""
    found = sorted(path.parent.name for path in root.glob("*/app.py") if (path.parent / "__init__.py").is_file())
    if len(found) != 1:
        raise ProjectError(f"cannot tell the service's package: expected one folder with app.py, found {found}")
    return found[0]


def check_identifier(name: str, what: str) -> None:
    """Refuse a `name` that is not a lowercase identifier or that would shadow a keyword or builtin."""
    if not IDENTIFIER.fullmatch(name):
        raise ProjectError(f"invalid {what} {name!r}: use a lowercase letter, then lowercase letters, digits or _")
    if len(name) > MAX_NAME_LENGTH:
        raise ProjectError(f"invalid {what} {name!r}: use at most {MAX_NAME_LENGTH} characters")
    if keyword.iskeyword(name) or keyword.issoftkeyword(name) or hasattr(builtins, name):
        raise ProjectError(f"invalid {what} {name!r}: it is a Python keyword or builtin")


def check_name(root: Path, old: str, new: str) -> None:
    """Refuse a new package name that is invalid, the current one, or already taken by a module or a path."""
    check_identifier(new, "name")
    if new == old:
        raise ProjectError(f"invalid name {new!r}: the service is already called {old!r}")
    if new in sys.stdlib_module_names:
        raise ProjectError(f"invalid name {new!r}: it is a module of Python's standard library")
    # A name that a file or folder already uses could not be told apart from the service's name later.
    taken = next((path for path in project_paths(root) if new in (path.name, path.stem)), None)
    if taken:
        raise ProjectError(f"invalid name {new!r}: {taken.relative_to(root)} already uses it")
    if new in installed_names(root) or importlib.util.find_spec(new) is not None:
        raise ProjectError(f"invalid name {new!r}: it is an installed or required package")
    used = first_use(root, new)
    if used:
        raise ProjectError(f"invalid name {new!r}: {used} already uses it as a word; a later rename would change it")


def name_pattern(name: str) -> re.Pattern[str]:
    """Where `name` stands as a word of its own, in lower case, Capitalized or UPPER case.

    Not after a letter or digit; not before a lowercase letter or digit (nor, in UPPER case, any
    letter). So `_`, `-`, `.` and `/` are boundaries (`NAME_DEBUG`, `name-metrics-`, `name.tests`)
    and so is a capital (`NameError`), but `log` is not found in `logging` or `logs.py`.
    """
    low, cap, up = (re.escape(form) for form in (name, name.capitalize(), name.upper()))
    return re.compile(rf"(?<![A-Za-z0-9])(?:{low}(?![a-z0-9])|{cap}(?![a-z0-9])|{up}(?![A-Za-z0-9]))")


def first_use(root: Path, name: str) -> str | None:
    """The first `path line N` where the project's code or configuration has `name` as a word, if any.

    Prose (Markdown) and the template's tooling (scripts/), whose examples name services, do not count.
    """
    pattern = name_pattern(name)
    for path in project_paths(root):
        relative = path.relative_to(root)
        if path.suffix == ".md" or relative.parts[0] == "scripts" or not path.is_file():
            continue
        try:
            text = path.read_bytes().decode()
        except UnicodeDecodeError:  # binary (a coverage database, an image): rename leaves it alone too
            continue
        found = pattern.search(text)
        if found:
            return f"{relative} line {found.string.count(chr(10), 0, found.start()) + 1}"
    return None


def installed_names(root: Path) -> set[str]:
    """Import and distribution names this Python has installed, plus those named in requirements*.txt."""
    names = set(_installed())
    for requirements in root.glob("requirements*.txt"):
        names |= set(re.findall(r"^[A-Za-z0-9_.-]+", requirements.read_text(), re.MULTILINE))
    return {name.lower().replace("-", "_") for name in names}


@functools.cache
def _installed() -> frozenset[str]:
    """What this Python has installed, read once per process (it reads every package's metadata)."""
    names = set(importlib.metadata.packages_distributions())
    return frozenset(names | {dist.metadata["Name"] for dist in importlib.metadata.distributions()})


def project_paths(root: Path) -> list[Path]:
    """Every file and folder of the project, parents first, leaving out what `skipped` names."""
    found: list[Path] = []
    for folder, dirs, files in os.walk(root):
        here = Path(folder)
        dirs[:] = sorted(name for name in dirs if not skipped(here / name))
        found += [here / name for name in dirs]
        found += [here / name for name in sorted(files) if not skipped(here / name)]
    return found


def skipped(path: Path) -> bool:
    """Whether a path is left alone: named in SKIPPED_DIRS, a cache, egg-info, a virtualenv or a link."""
    venv = (path / "pyvenv.cfg").exists()
    return path.name in SKIPPED_DIRS or path.name.endswith(SKIPPED_SUFFIXES) or venv or path.is_symlink()
