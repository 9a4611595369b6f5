"""Scaffold a blueprint: `python3 -m scripts.blueprint orders` (what `make blueprint` runs).

Writes `<package>/views/orders.py` (Blueprint "orders" at /orders, one JSON route) and
`<package>/tests/test_orders.py` (its test). Discovery serves it; nothing else is edited.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from scripts.rename import RenameError, check_identifier, current_name

VIEW = '''"""The {name} blueprint."""

from quart import Blueprint

{name} = Blueprint("{name}", __name__, url_prefix="/{name}")


@{name}.get("/")
async def list_{name}() -> dict[str, object]:
    """List the {name}."""
    return {{"{name}": []}}
'''

TEST = '''"""The {name} blueprint."""

from quart.typing import TestClientProtocol as Client


async def test_list_{name}(client: Client) -> None:
    response = await client.get("/{name}/")
    assert response.status_code == 200
    assert response.content_type == "application/json"
    assert await response.get_json() == {{"{name}": []}}
'''


def scaffold(root: Path, name: str) -> list[Path]:
    """Write the views module and the tests module of blueprint `name`; refuse a taken or invalid name."""
    check_identifier(name, "blueprint name")
    package = root / current_name(root)
    files = {package / "views" / f"{name}.py": VIEW, package / "tests" / f"test_{name}.py": TEST}
    for path in [*files, package / "views" / name]:
        if path.exists():
            raise RenameError(f"blueprint {name!r} exists already: {path.relative_to(root)}")
    for path, template in files.items():
        path.write_text(template.format(name=name))
    return list(files)


def main(argv: list[str] | None = None) -> int:
    """Scaffold the blueprint in the current folder; print the files written or one line saying why not."""
    parser = argparse.ArgumentParser(prog="make blueprint NAME=<name>", description=__doc__)
    parser.add_argument("name", nargs="?", default="", help="the blueprint's name and URL segment, e.g. orders")
    args = parser.parse_args(argv)
    root = Path.cwd()
    try:
        if not args.name:
            raise RenameError("no name given: run make blueprint NAME=<name>, e.g. make blueprint NAME=orders")
        written = scaffold(root, args.name)
    except (RenameError, OSError) as error:
        print(f"blueprint: {error}", file=sys.stderr)
        return 1
    print("\n".join(f"wrote {path.relative_to(root)}" for path in written))
    return 0


if __name__ == "__main__":
    sys.exit(main())
