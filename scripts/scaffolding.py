"""What `make blueprint` and `make resource` share: the names a scaffold takes from NAME, the checks that
refuse a NAME before anything is written, writing the files formatted (all of them or none), and the
command line.
"""

from __future__ import annotations

import argparse
import ast
import sys
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

from scripts.formatting import format_files, too_long
from scripts.project import ProjectError

# Plural endings and the singular's, the first that matches wins: orders -> order; stock stays stock.
SINGULAR = {"ies": "y", "sses": "ss", "xes": "x", "ches": "ch", "shes": "sh", "ss": "ss", "us": "us", "s": ""}


def singular(name: str) -> str:
    """One of `name` (categories -> category, addresses -> address, orders -> order); `name` if not a plural."""
    for ending, one in SINGULAR.items():
        if name.endswith(ending) and name.removesuffix(ending).strip("_"):
            return name.removesuffix(ending) + one
    return name


def camel(name: str) -> str:
    """A class name for `name`: order_items -> OrderItems."""
    return name.title().replace("_", "")


def placeholders(name: str) -> dict[str, str]:
    """What a template's placeholders stand for: {name} (orders), {NAME}, {Title}; one of them, {item} and {Item}."""
    item = singular(name)
    return {"name": name, "NAME": name.upper(), "Title": camel(name), "item": item, "Item": camel(item)}


def check_hidden(what: str, name: str, modules: Iterable[str]) -> None:
    """Refuse `name` if a module it scaffolds would define a name that it also imports (the module would break)."""
    for source in modules:
        imported: set[str] = set()
        defined: set[str] = set()
        for node in ast.parse(source).body:
            if isinstance(node, ast.Import | ast.ImportFrom):
                imported |= {(alias.asname or alias.name).partition(".")[0] for alias in node.names}
            elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
                defined.add(node.name)
            elif isinstance(node, ast.Assign | ast.AnnAssign):
                targets = node.targets if isinstance(node, ast.Assign) else [node.target]
                defined |= {target.id for target in targets if isinstance(target, ast.Name)}
        hidden = sorted(imported & defined)
        if hidden:
            raise ProjectError(f"invalid {what} name {name!r}: the scaffold would define {hidden[0]}, hiding an import")


def check_free(root: Path, what: str, name: str, paths: Iterable[Path]) -> None:
    """Refuse `name` if any of `paths` exists."""
    for path in paths:
        if path.exists():
            raise ProjectError(f"{what} {name!r} exists already: {path.relative_to(root)}")


@contextmanager
def undone_on_failure() -> Iterator[list[Path]]:
    """A list for the block to record the files it writes; they are removed if the block fails or is interrupted."""
    written: list[Path] = []
    try:
        yield written
    except BaseException:
        for path in written:
            path.unlink(missing_ok=True)
        raise


def write_formatted(root: Path, files: Mapping[Path, str], written: list[Path], what: str) -> None:
    """Write `files` (recorded in `written`) and format them with ruff; a line it cannot shorten is a refusal."""
    for path, text in files.items():
        path.write_text(text)
        written.append(path)
    places = format_files(list(files), root)  # a long name makes long lines: wrapped as ruff wraps them
    if places:
        raise too_long(what, places)


def run(
    kind: str, scaffold: Callable[[Path, str], list[Path]], argv: list[str] | None, description: str, then: str = ""
) -> int:
    """`make <kind> NAME=<name>`: scaffold in the current folder; print the files written (and `then`, what to do
    next) or one line saying why not."""
    parser = argparse.ArgumentParser(prog=f"make {kind} NAME=<name>", description=description)
    parser.add_argument("name", nargs="?", default="", help=f"the {kind}'s name and URL segment, e.g. orders")
    args = parser.parse_args(argv)
    root = Path.cwd()
    try:
        if not args.name:
            raise ProjectError(f"no name given: run make {kind} NAME=<name>, e.g. make {kind} NAME=orders")
        written = scaffold(root, args.name)
    except (ProjectError, OSError) as error:
        print(f"{kind}: {str(error).splitlines()[0]}", file=sys.stderr)
        return 1
    print("\n".join([*(f"wrote {path.relative_to(root)}" for path in written), *([then] if then else [])]))
    return 0
