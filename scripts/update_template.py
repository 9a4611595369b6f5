"""Bring template changes into a renamed service: `python3 -m scripts.update_template [--source S] [--ref R]`.

Checks out the recorded template commit (base) and REF (target) into temp dirs, renames both the way
`make rename` did, and replays base -> target onto the service with a three-way merge per file.
"""

from __future__ import annotations

import argparse
import io
import subprocess
import sys
import tarfile
import tempfile
from dataclasses import replace
from pathlib import Path

from scripts import rename, replay
from scripts.formatting import format_files
from scripts.origin import ORIGIN, GitError, Origin, OriginError, git, origin_text, read_origin


class UpdateError(Exception):
    """A state in which the update refuses to start, with a one-line reason."""


def check_service(root: Path) -> Origin:
    """The service's recorded origin; refuse a service without one or with uncommitted changes."""
    origin = read_origin(root)
    if origin is None:
        raise UpdateError(
            f"no recorded origin: {ORIGIN} is missing (make rename writes it in a git clone of the template)"
        )
    if git(root, "status", "--porcelain"):
        raise UpdateError("the working tree has uncommitted changes: commit or stash them first")
    return origin


def commit_of(clone: Path, ref: str, what: str) -> str:
    """The commit `ref` names in the template clone (a branch of the template, a tag or a commit)."""
    for candidate in () if ref.startswith("-") else (ref, f"origin/{ref}"):  # git would read "-x" as an option
        try:
            return git(clone, "rev-parse", "--verify", "--quiet", f"{candidate}^{{commit}}")
        except GitError:
            continue
    raise UpdateError(f"unknown {what} {ref!r} in the template")


def export(clone: Path, commit: str, dest: Path, origin: Origin) -> None:
    """Write the files of `commit` to `dest` and rename them the way the service was renamed."""
    archive = subprocess.run(["git", "-C", str(clone), "archive", commit], capture_output=True, check=True).stdout
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        tar.extractall(dest, filter="data")
    plan = rename.plan_rename(dest, origin.template_name, origin.name)
    rename.apply(plan)
    format_files(rename.python_files(plan), dest)  # as make rename left the service


def changes(trees: Path) -> list[replay.Change]:
    """The files changed from trees/base to trees/target: added, modified, deleted and renamed."""
    command = ["git", "diff", "--no-index", "--name-status", "-z", "-M", "base", "target"]
    result = subprocess.run(command, cwd=trees, capture_output=True, text=True, check=False)
    if result.returncode > 1:
        raise GitError(result.stderr.strip())
    fields = iter(result.stdout.split("\0"))
    found = []
    for status in fields:
        if status:
            old = next(fields).partition("/")[2]  # paths start with base/ or target/
            new = next(fields).partition("/")[2] if status.startswith("R") else old
            found.append(replay.Change(status[0], new, old))
    return found


def plan_update(root: Path, trees: Path, origin: Origin, ref: str) -> tuple[list[replay.Outcome], str]:
    """What the update would do to the service, and the target commit."""
    clone = trees / "clone"
    git(trees, "clone", "--quiet", "--no-checkout", "--", origin.source, str(clone))
    target = commit_of(clone, ref, "ref")
    base = commit_of(clone, origin.commit, "recorded template commit")
    export(clone, base, trees / "base", origin)
    export(clone, target, trees / "target", origin)
    outcomes = [replay.decide(root, trees, change) for change in changes(trees)]
    return [outcome for outcome in outcomes if outcome], target


def describe(outcome: replay.Outcome, dry_run: bool) -> str:
    """One line for one outcome: `merge README.md`, `rename a -> b`, `conflict x: changed on both sides`."""
    prefix = "would " if dry_run else ""
    path = f"{outcome.remove} -> {outcome.path}" if outcome.remove and outcome.content is not None else outcome.path
    return f"{prefix}{outcome.action} {path}" + (f": {outcome.reason}" if outcome.reason else "")


def update(root: Path, source: str | None, ref: str, dry_run: bool) -> int:
    """Run the update in `root`; print what it did; 1 if any file conflicts."""
    recorded = check_service(root)
    origin = recorded
    if source is not None and (source.startswith("-") or not source.isprintable()):
        raise UpdateError(f"invalid source {source[:80]!r}: expected a git URL or path")
    if source:  # a one-off (a mirror, a local clone): .template keeps the recorded source
        origin = replace(recorded, source=str(Path(source).resolve()) if Path(source).exists() else source)
    with tempfile.TemporaryDirectory() as tmp:
        outcomes, target = plan_update(root, Path(tmp), origin, ref)
        for outcome in outcomes:
            print(describe(outcome, dry_run))
            if not dry_run:
                replay.apply(root, Path(tmp), outcome)
    if dry_run:
        print(f"would update from template {origin.commit[:7]} to {target[:7]}")
        return 0
    # Recorded even with conflicts, like git's MERGE_HEAD: the resolution committed with it is the merge.
    (root / ORIGIN).write_bytes(origin_text(replace(recorded, commit=target)))
    conflicts = [outcome.path for outcome in outcomes if outcome.action == "conflict"]
    if conflicts:
        print(f"update-template: conflicts in {', '.join(conflicts)}: resolve them, then commit", file=sys.stderr)
        return 1
    print(f"updated from template {origin.commit[:7]} to {target[:7]}")
    return 0


def main(argv: list[str] | None = None) -> int:
    """Update the service in the current folder from its template; print one line saying why not if it cannot."""
    parser = argparse.ArgumentParser(prog="make update-template", description=__doc__)
    parser.add_argument("--source", help="the template's git URL or path (default: the one in .template)")
    parser.add_argument(
        "--ref", default="HEAD", help="the template branch, tag or commit (default: its default branch)"
    )
    parser.add_argument("--dry-run", action="store_true", help="print what would change and change nothing")
    args = parser.parse_args(argv)
    try:
        return update(Path.cwd(), args.source, args.ref, args.dry_run)
    except (UpdateError, GitError, OriginError, OSError) as error:
        print(f"update-template: {error}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
