"""Scaffold a blueprint: `python3 -m scripts.blueprint orders` (what `make blueprint` runs).

Writes `<package>/views/orders.py` (Blueprint "orders" at /orders, one validated, documented JSON
route: a query dataclass, a response dataclass) and `<package>/tests/test_orders.py` (its happy
path and a validation error). Discovery serves it; nothing else is edited.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from scripts.project import ProjectError, check_identifier, current_name

VIEW = '''"""The {name} blueprint."""

from __future__ import annotations

from pydantic.dataclasses import dataclass
from quart import Blueprint
from quart_schema import validate_querystring, validate_response

{name} = Blueprint("{name}", __name__, url_prefix="/{name}")


@dataclass
class {title}Query:
    """Which of the {name} to list."""

    limit: int = 10


@dataclass
class {title}Page:
    """A page of the {name}."""

    {name}: list[str]
    limit: int


@{name}.get("/")
@validate_querystring({title}Query)
@validate_response({title}Page)
async def list_{name}(query_args: {title}Query) -> {title}Page:
    """List the {name}."""
    return {title}Page({name}=[], limit=query_args.limit)
'''

TEST = '''"""The {name} blueprint."""

from quart.typing import TestClientProtocol as Client


async def test_list_{name}(client: Client) -> None:
    response = await client.get("/{name}/", query_string={{"limit": "5"}})
    assert (response.status_code, response.content_type) == (200, "application/json")
    assert await response.get_json() == {{"{name}": [], "limit": 5}}


async def test_list_{name}_with_invalid_limit(client: Client) -> None:
    response = await client.get("/{name}/", query_string={{"limit": "many"}})
    assert (response.status_code, response.content_type) == (400, "application/problem+json")
    problem = await response.get_json()
    assert [error["loc"] for error in problem["errors"]] == [["query", "limit"]]
'''


def scaffold(root: Path, name: str) -> list[Path]:
    """Write the views module and the tests module of blueprint `name`; refuse a taken or invalid name."""
    check_identifier(name, "blueprint name")
    package = root / current_name(root)
    files = {package / "views" / f"{name}.py": VIEW, package / "tests" / f"test_{name}.py": TEST}
    for path in [*files, package / "views" / name]:
        if path.exists():
            raise ProjectError(f"blueprint {name!r} exists already: {path.relative_to(root)}")
    for path, template in files.items():
        path.write_text(template.format(name=name, title=name.title().replace("_", "")))
    return list(files)


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
