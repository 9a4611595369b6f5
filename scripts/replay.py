"""Replay one template change (base -> target, both already renamed) onto the service, three-way per file."""

from __future__ import annotations

import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path


@dataclass
class Change:
    """One file the template changed: status A/M/D/R, its path in the target, its path in the base."""

    status: str
    path: str
    old: str


@dataclass
class Outcome:
    """What the update does to one service file: what to write at `path` and what to remove."""

    action: str
    path: str
    content: bytes | None = None
    remove: str | None = None
    reason: str = ""


def read(path: Path) -> bytes | None:
    """The bytes of `path`, or None if there is no such file."""
    return path.read_bytes() if path.is_file() else None


def decide(root: Path, trees: Path, change: Change) -> Outcome | None:
    """The outcome of `change` for the service in `root` (None: nothing to do); `trees` holds base/ and target/."""
    base = read(trees / "base" / change.old) if change.status != "A" else b""
    theirs = read(trees / "target" / change.path)
    # A file renamed by the template may already be renamed here (an earlier, conflicted update).
    here = change.old if (root / change.old).exists() else change.path
    mine = read(root / here)
    if mine is None or theirs is None:
        return gone(change, mine, base, theirs)
    remove = here if here != change.path else None
    if remove and (root / change.path).exists():
        return Outcome("conflict", change.path, reason=f"the template renamed {here} to it, and it exists here")
    if mine == theirs:
        return Outcome("rename", change.path, mine, remove) if remove else None
    if mine == base:
        return Outcome("rename" if remove else "add" if change.status == "A" else "update", change.path, theirs, remove)
    merged, clean = merge(trees, change.path, mine, base or b"", theirs)
    if clean:
        return Outcome("merge", change.path, merged, remove)
    if merged is None:  # binary: left as it is here
        return Outcome("conflict", change.path, reason="binary file changed on both sides")
    return Outcome("conflict", change.path, merged, remove, "changed on both sides")


def gone(change: Change, mine: bytes | None, base: bytes | None, theirs: bytes | None) -> Outcome | None:
    """The outcome when the file is missing on one side: deleted by the template, new, or deleted here."""
    if change.status == "A":
        return Outcome("add", change.path, theirs)
    if change.status != "D":
        return Outcome("conflict", change.path, reason="deleted here, changed in the template")
    if mine is None:
        return None
    if mine == base:
        return Outcome("delete", change.old, remove=change.old)
    return Outcome("conflict", change.old, reason="changed here, deleted in the template")


def merge(trees: Path, path: str, mine: bytes, base: bytes, theirs: bytes) -> tuple[bytes | None, bool]:
    """`git merge-file` of the three versions: the result (None for binary files) and whether it is clean."""
    sides = []
    for name, data in (("mine", mine), ("base", base), ("theirs", theirs)):
        sides.append(trees / f"merge.{name}")
        sides[-1].write_bytes(data)
    labels = ["-L", f"{path} (this service)", "-L", "template base", "-L", "template update"]
    result = subprocess.run(["git", "merge-file", "-p", *labels, *map(str, sides)], capture_output=True, check=False)
    if not 0 <= result.returncode < 128:  # binary files, which git will not merge
        return None, False
    return result.stdout, result.returncode == 0


def apply(root: Path, trees: Path, outcome: Outcome) -> None:
    """Write and remove the service files of one outcome, taking file modes from the template."""
    if outcome.content is not None:
        path = root / outcome.path
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(outcome.content)
        if (trees / "target" / outcome.path).is_file():
            shutil.copymode(trees / "target" / outcome.path, path)
    if outcome.remove:
        (root / outcome.remove).unlink()
        for parent in (root / outcome.remove).parents:
            if parent == root or any(parent.iterdir()):
                break
            parent.rmdir()
