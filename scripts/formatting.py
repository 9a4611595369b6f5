"""ruff on the files a script writes: a renamed or scaffolded module reads as if written by hand.

A new name changes line lengths and import order, which ruff mends; what it cannot mend (a string
or a comment pushed past the line limit) is reported, so that the script can undo its writes.
"""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

from scripts.project import ProjectError

RUFF = [sys.executable, "-m", "ruff"]


def check_formatter() -> None:
    """Refuse to start without ruff, before anything is written."""
    if importlib.util.find_spec("ruff") is None:
        raise ProjectError("ruff is not installed for this Python: run the make target, which installs it first")


def format_files(files: list[Path], root: Path) -> list[str]:
    """Sort the imports of `files` and format them; return the places (path:line) still over the limit."""
    if not files:
        return []
    names = [str(path) for path in files]
    for command in (["check", "--fix-only", "--select", "I"], ["format"]):
        subprocess.run([*RUFF, *command, "--quiet", "--no-cache", *names], cwd=root, check=True)
    long = [*RUFF, "check", "--select", "E501", "--no-cache", "--output-format", "concise", *names]
    found = subprocess.run(long, cwd=root, capture_output=True, text=True, check=False).stdout
    places = [line.split(":")[0:2] for line in found.splitlines() if ": E501 " in line]
    return [f"{Path(path).resolve().relative_to(root.resolve())}:{line}" for path, line in places]


def too_long(what: str, places: list[str]) -> ProjectError:
    """The one-line refusal for lines that no formatter can bring under the limit."""
    shown = ", ".join(places[:3]) + (f" and {len(places) - 3} more" if len(places) > 3 else "")
    return ProjectError(f"{what} makes lines too long, which no formatter can fix: {shown}")
