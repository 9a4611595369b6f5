"""Rename the service: `python3 -m scripts.rename billing [--dry-run]` (what `make rename` runs).

Stdlib only (ruff, which formats what the rename changed, runs as a subprocess). Every change is
planned before the first write, and a failure midway puts every file back as it was.
"""

from __future__ import annotations

import argparse
import re
import signal
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

from scripts.formatting import check_formatter, format_files, too_long
from scripts.journal import JOURNAL, Journal
from scripts.origin import ORIGIN, OriginError, origin_text, renamed_origin
from scripts.project import ProjectError, check_name, current_name, name_pattern, project_paths


@dataclass
class Plan:
    """Everything a rename will do: old (None: no file yet) and new bytes per file, then moves (deepest first)."""

    old: str
    new: str
    writes: dict[Path, tuple[bytes | None, bytes]] = field(default_factory=dict)
    moves: list[tuple[Path, Path]] = field(default_factory=list)


def replace_name(text: str, old: str, new: str) -> str:
    """Replace `old` where it is a word (see project.name_pattern): `old` -> `new`, `OLD` -> `NEW`, `Old` -> `New`."""

    def cased(match: re.Match[str]) -> str:
        found = match.group()
        return new if found.islower() else new.upper() if found.isupper() else new.capitalize()

    return name_pattern(old).sub(cased, text)


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
                raise ProjectError(f"cannot move {path.relative_to(root)}: {target.relative_to(root)} already exists")
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


def carry_out(plan: Plan, root: Path) -> None:
    """Apply and format under a journal: a failure or a signal undoes it now, a SIGKILL on the next run."""
    journal = Journal(root)
    journal.start({path: before for path, (before, _) in plan.writes.items()}, plan.moves)
    # Ctrl-C too, explicitly: a process started in the background inherits SIGINT ignored.
    previous = {number: signal.signal(number, _interrupt) for number in (signal.SIGTERM, signal.SIGINT)}
    try:
        apply(plan)
        places = format_files(python_files(plan), root)
        if places:
            raise too_long(f"the name {plan.new!r}", places)
    except BaseException:
        journal.undo()
        raise
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler)
    journal.finish()


def _interrupt(signum: int, frame: object) -> None:
    """On SIGTERM or SIGINT, stop as on Ctrl-C: the rename undoes what it did."""
    raise KeyboardInterrupt


def plan_origin(plan: Plan, root: Path) -> None:
    """Add the update of `.template`, the record of where the service came from, to the plan."""
    origin = renamed_origin(root, plan.old, plan.new)
    if origin:
        path = root / ORIGIN
        plan.writes[path] = (path.read_bytes() if path.is_file() else None, origin_text(origin))


def python_files(plan: Plan) -> list[Path]:
    """Where the Python files the plan wrote are after its moves (below a moved folder, or moved themselves)."""
    files = []
    for path in plan.writes:
        if path.suffix == ".py":
            for source, target in plan.moves:  # children first, then their folders
                if path == source or source in path.parents:
                    path = target / path.relative_to(source)
            files.append(path)
    return files


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
            raise ProjectError("no name given: run make rename NAME=<new name>, e.g. make rename NAME=billing")
        if Journal(root).undo():
            print(f"rename: undid an unfinished rename ({JOURNAL} was left)", file=sys.stderr)
        old = current_name(root)
        check_name(root, old, args.name)
        check_formatter()
        plan = plan_rename(root, old, args.name)
        plan_origin(plan, root)
        if not args.dry_run:
            carry_out(plan, root)
    except (ProjectError, OSError, OriginError, subprocess.CalledProcessError) as error:
        print(f"rename: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("rename: interrupted: every file is as it was", file=sys.stderr)
        return 130
    print(describe(plan, root, args.dry_run))
    return 0


if __name__ == "__main__":
    sys.exit(main())
