"""Scaffold a blueprint: `python3 -m scripts.blueprint orders` (what `make blueprint` runs).

Writes `<package>/views/orders.py` (Blueprint "orders" at /orders: `GET /orders/` lists them,
validating `limit`; `GET /orders/<int:order_id>` gets one or answers a documented 404; both read a
sample tuple that stands in for storage) and `<package>/tests/test_orders.py` (both routes, found
and not, and a validation error). Discovery serves it; nothing else is edited.
"""

from __future__ import annotations

import sys
from pathlib import Path

from scripts.blueprint_templates import TEST, VIEW
from scripts.formatting import check_formatter
from scripts.project import check_identifier, current_name
from scripts.scaffolding import check_free, check_hidden, placeholders, run, undone_on_failure, write_formatted


def scaffold(root: Path, name: str) -> list[Path]:
    """Write the views module and the tests module of blueprint `name`; refuse a taken or invalid name."""
    check_identifier(name, "blueprint name")
    names = placeholders(name)
    package = root / current_name(root)
    templates = {package / "views" / f"{name}.py": VIEW, package / "tests" / f"test_{name}.py": TEST}
    files = {path: template.format(package=package.name, **names) for path, template in templates.items()}
    check_hidden("blueprint", name, files.values())
    check_free(root, "blueprint", name, [*files, package / "views" / name])
    check_formatter()
    with undone_on_failure() as written:
        write_formatted(root, files, written, f"the blueprint name {name!r}")
    return written


def main(argv: list[str] | None = None) -> int:
    """Scaffold the blueprint in the current folder; print the files written or one line saying why not."""
    return run("blueprint", scaffold, argv, __doc__ or "")


if __name__ == "__main__":
    sys.exit(main())
