"""Rename the service: `python3 -m scripts.rename billing [--dry-run]` (what `make rename` runs).

Stdlib only, so it works before `.venv` exists. Every change is planned before the first write,
and a failure midway puts every file back as it was.
"""

from __future__ import annotations

import argparse
import builtins
import functools
import importlib.metadata
import importlib.util
import keyword
import os
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path

from scripts.origin import ORIGIN, origin_text, renamed_origin

# Not the project's own text: version control (a worktree's .git is a file), virtualenvs, caches, builds.
SKIPPED_DIRS = {".git", ".hg", ".venv", "venv", "node_modules", "build", "dist", "__pycache__", ".tox", ".nox"}
SKIPPED_SUFFIXES = (".egg-info", "_cache")
IDENTIFIER = re.compile(r"[a-z][a-z0-9_]*")


class RenameError(Exception):
    """A name or a repository state that the rename refuses, with a one-line reason."""


@dataclass
class Plan:
    """Everything a rename will do: old (None: no file yet) and new bytes per file, then moves (deepest first)."""

    old: str
    new: str
    writes: dict[Path, tuple[bytes | None, bytes]] = field(default_factory=dict)
    moves: list[tuple[Path, Path]] = field(default_factory=list)


def current_name(root: Path) -> str:
    """The service's package: the one top-level folder holding both `__init__.py` and `app.py`."""
    found = sorted(path.parent.name for path in root.glob("*/app.py") if (path.parent / "__init__.py").is_file())
    if len(found) != 1:
        raise RenameError(f"cannot tell the service's package: expected one folder with app.py, found {found}")
    return found[0]


def check_identifier(name: str, what: str) -> None:
    """Refuse a `name` that is not a lowercase identifier or that would shadow a keyword or builtin."""
    if not IDENTIFIER.fullmatch(name):
        raise RenameError(f"invalid {what} {name!r}: use a lowercase letter, then lowercase letters, digits or _")
    if keyword.iskeyword(name) or keyword.issoftkeyword(name) or hasattr(builtins, name):
        raise RenameError(f"invalid {what} {name!r}: it is a Python keyword or builtin")


def check_name(root: Path, old: str, new: str) -> None:
    """Refuse a new package name that is invalid, the current one, or already taken by a module or a path."""
    check_identifier(new, "name")
    if new == old:
        raise RenameError(f"invalid name {new!r}: the service is already called {old!r}")
    if new in sys.stdlib_module_names:
        raise RenameError(f"invalid name {new!r}: it is a module of Python's standard library")
    # A name that a file or folder already uses could not be told apart from the service's name later.
    taken = next((path for path in project_paths(root) if new in (path.name, path.stem)), None)
    if taken:
        raise RenameError(f"invalid name {new!r}: {taken.relative_to(root)} already uses it")
    if new in installed_names(root) or importlib.util.find_spec(new) is not None:
        raise RenameError(f"invalid name {new!r}: it is an installed or required package")


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


def replace_name(text: str, old: str, new: str) -> str:
    """Replace `old` in any case: `old` -> `new`, `OLD` -> `NEW`, `Old` (and other mixes) -> `New`."""

    def cased(match: re.Match[str]) -> str:
        found = match.group()
        return new if found.islower() else new.upper() if found.isupper() else new.capitalize()

    return re.sub(re.escape(old), cased, text, flags=re.IGNORECASE)


def plan_rename(root: Path, old: str, new: str) -> Plan:
    """Plan the new text of every UTF-8 file that names `old`, then the moves of paths that name it."""
    plan = Plan(old, new)
    paths = project_paths(root)
    for path in paths:
        if path.is_file() and path != root / ORIGIN:  # it names the template on purpose
            plan_write(plan, path)
    for path in reversed(paths):  # children before their folder
        target = path.with_name(replace_name(path.name, old, new))
        if target != path:
            if target.exists():
                raise RenameError(f"cannot move {path.relative_to(root)}: {target.relative_to(root)} already exists")
            plan.moves.append((path, target))
    return plan


def plan_write(plan: Plan, path: Path) -> None:
    """Add `path` to the plan if it is UTF-8 text that names the old name (binary files are left alone)."""
    before = path.read_bytes()
    try:
        text = before.decode()
    except UnicodeDecodeError:
        return
    after = replace_name(text, plan.old, plan.new).encode()
    if after != before:
        plan.writes[path] = (before, after)


def apply(plan: Plan) -> None:
    """Carry out the plan; if any step fails, undo the steps already done and re-raise."""
    written: list[Path] = []
    moved: list[tuple[Path, Path]] = []
    try:
        for path, (_, after) in plan.writes.items():
            write_file(path, after)
            written.append(path)
        for source, target in plan.moves:
            source.rename(target)
            moved.append((source, target))
    except BaseException:
        for source, target in reversed(moved):
            target.rename(source)
        for path in written:
            before = plan.writes[path][0]
            if before is None:
                path.unlink()
            else:
                write_file(path, before)
        raise


def plan_origin(plan: Plan, root: Path) -> None:
    """Add the update of `.template`, the record of where the service came from, to the plan."""
    origin = renamed_origin(root, plan.old, plan.new)
    if origin:
        path = root / ORIGIN
        plan.writes[path] = (path.read_bytes() if path.is_file() else None, origin_text(origin))


def write_file(path: Path, data: bytes) -> None:
    """Replace the contents of `path`, keeping its permissions."""
    path.write_bytes(data)


def describe(plan: Plan, root: Path, dry_run: bool) -> str:
    """The summary printed after (or, with --dry-run, instead of) the rename."""
    prefix = "would " if dry_run else ""
    lines = [f"{prefix}change {path.relative_to(root)}" for path in plan.writes]
    lines += [f"{prefix}move {source.relative_to(root)} -> {target.relative_to(root)}" for source, target in plan.moves]
    done = "would rename" if dry_run else "renamed"
    lines.append(f"{done} {plan.old} to {plan.new}: files changed: {len(plan.writes)}, paths moved: {len(plan.moves)}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Rename the service in the current folder; print the summary or one line saying why not."""
    parser = argparse.ArgumentParser(prog="make rename NAME=<name>", description=__doc__)
    parser.add_argument("name", nargs="?", default="", help="the new package name, e.g. billing")
    parser.add_argument("--dry-run", action="store_true", help="print what would change and change nothing")
    args = parser.parse_args(argv)
    root = Path.cwd()
    try:
        if not args.name:
            raise RenameError("no name given: run make rename NAME=<new name>, e.g. make rename NAME=billing")
        old = current_name(root)
        check_name(root, old, args.name)
        plan = plan_rename(root, old, args.name)
        plan_origin(plan, root)
        if not args.dry_run:
            apply(plan)
    except (RenameError, OSError) as error:
        print(f"rename: {error}", file=sys.stderr)
        return 1
    print(describe(plan, root, args.dry_run))
    return 0


if __name__ == "__main__":
    sys.exit(main())
