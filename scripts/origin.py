"""The `.template` file: where a renamed service came from, written by rename and read by update_template."""

from __future__ import annotations

import json
import subprocess
from dataclasses import asdict, dataclass
from pathlib import Path

ORIGIN = ".template"


class OriginError(Exception):
    """`.template` cannot be read; the message says how to restore it."""


class GitError(Exception):
    """A git command failed; the message is git's own last line."""


@dataclass
class Origin:
    """The template's source (URL or path), the commit the service was renamed from, and the two names."""

    source: str
    commit: str
    template_name: str
    name: str


def git(root: Path, *args: str) -> str:
    """Run git in `root` and return its output, stripped; raise GitError with git's message if it fails."""
    try:
        result = subprocess.run(["git", "-C", str(root), *args], capture_output=True, text=True, check=False)
    except FileNotFoundError:
        raise GitError("git is not installed") from None
    if result.returncode != 0:
        lines = result.stderr.strip().splitlines() or [f"git {args[0]} failed"]
        raise GitError(lines[-1])
    return result.stdout.strip()


def read_origin(root: Path) -> Origin | None:
    """The recorded origin of the service in `root`, or None if it has none."""
    path = root / ORIGIN
    if not path.is_file():
        return None
    try:
        return Origin(**json.loads(path.read_text()))
    except (ValueError, TypeError):  # not JSON, not UTF-8, or not the four fields
        message = f"{ORIGIN} is not a record of the template (JSON with source, commit, template_name, name)"
        raise OriginError(f"{message}: restore it with git checkout -- {ORIGIN}") from None


def renamed_origin(root: Path, old: str, new: str) -> Origin | None:
    """The origin to record after renaming `old` to `new`; None outside a git checkout (no commit to name)."""
    recorded = read_origin(root)
    if recorded:
        return Origin(recorded.source, recorded.commit, recorded.template_name, new)
    try:
        if Path(git(root, "rev-parse", "--show-toplevel")).resolve() != root.resolve():
            return None
        commit = git(root, "rev-parse", "HEAD")
    except GitError:
        return None
    try:
        source = git(root, "remote", "get-url", "origin")
    except GitError:
        source = str(root.resolve())
    return Origin(source, commit, old, new)


def origin_text(origin: Origin) -> bytes:
    """The contents of `.template` for `origin`."""
    return (json.dumps(asdict(origin), indent=2) + "\n").encode()
