"""Scaffold a blueprint: `python3 -m scripts.blueprint orders` (what `make blueprint` runs).

Writes `<package>/views/orders.py` (Blueprint "orders" at /orders: `GET /orders/` lists them,
validating `limit`; `GET /orders/<int:order_id>` gets one or answers a documented 404; both read a
sample tuple that stands in for storage) and `<package>/tests/test_orders.py` (both routes, found
and not, and a validation error). Discovery serves it; nothing else is edited.
"""

from __future__ import annotations

import argparse
import ast
import sys
from pathlib import Path

from scripts.blueprint_templates import TEST, VIEW
from scripts.formatting import check_formatter, format_files, too_long
from scripts.project import ProjectError, check_identifier, current_name


def _imported(template: str) -> frozenset[str]:
    """The names the scaffold's views module imports (the template's own import lines)."""
    lines = [line for line in template.splitlines() if line.startswith(("from ", "import "))]
    tree = ast.parse("\n".join(lines).replace("{package}", "package"))
    nodes = [node for node in tree.body if isinstance(node, ast.Import | ast.ImportFrom)]
    return frozenset((alias.asname or alias.name).partition(".")[0] for node in nodes for alias in node.names)


# A blueprint, model or function of the same name would hide one of these: the module would break.
IMPORTED = _imported(VIEW)
# Plural endings and the singular's, the first that matches wins: orders -> order; stock stays stock.
SINGULAR = {"ies": "y", "sses": "ss", "xes": "x", "ches": "ch", "shes": "sh", "ss": "ss", "us": "us", "s": ""}


def singular(name: str) -> str:
    """One of `name` (categories -> category, addresses -> address, orders -> order); `name` if not a plural."""
    for ending, one in SINGULAR.items():
        if name.endswith(ending) and name.removesuffix(ending).strip("_"):
            return name.removesuffix(ending) + one
    return name


def scaffold(root: Path, name: str) -> list[Path]:
    """Write the views module and the tests module of blueprint `name`; refuse a taken or invalid name."""
    check_identifier(name, "blueprint name")
    item = singular(name)
    names = {"name": name, "NAME": name.upper(), "Title": _camel(name), "item": item, "Item": _camel(item)}
    defined = {name, names["Item"], f"{names['Title']}Query", f"{names['Title']}Page", f"list_{name}", f"get_{item}"}
    hidden = sorted(defined & IMPORTED)
    if hidden:
        raise ProjectError(f"invalid blueprint name {name!r}: the scaffold would define {hidden[0]}, hiding an import")
    package = root / current_name(root)
    files = {package / "views" / f"{name}.py": VIEW, package / "tests" / f"test_{name}.py": TEST}
    for path in [*files, package / "views" / name]:
        if path.exists():
            raise ProjectError(f"blueprint {name!r} exists already: {path.relative_to(root)}")
    check_formatter()
    for path, template in files.items():
        path.write_text(template.format(package=package.name, **names))
    places = format_files(list(files), root)  # a long name makes long lines: wrapped as ruff wraps them
    if places:
        for path in files:
            path.unlink()
        raise too_long(f"the blueprint name {name!r}", places)
    return list(files)


def _camel(name: str) -> str:
    """A class name for `name`: order_items -> OrderItems."""
    return name.title().replace("_", "")


def main(argv: list[str] | None = None) -> int:
    """Scaffold the blueprint in the current folder; print the files written or one line saying why not."""
    parser = argparse.ArgumentParser(prog="make blueprint NAME=<name>", description=__doc__)
    parser.add_argument("name", nargs="?", default="", help="the blueprint's name and URL segment, e.g. orders")
    args = parser.parse_args(argv)
    root = Path.cwd()
    try:
        if not args.name:
            raise ProjectError("no name given: run make blueprint NAME=<name>, e.g. make blueprint NAME=orders")
        written = scaffold(root, args.name)
    except (ProjectError, OSError) as error:
        print(f"blueprint: {error}", file=sys.stderr)
        return 1
    print("\n".join(f"wrote {path.relative_to(root)}" for path in written))
    return 0


if __name__ == "__main__":
    sys.exit(main())
