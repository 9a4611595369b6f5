"""What `make blueprint NAME=...` writes (scripts/blueprint.py fills them in with str.format).

Placeholders: {package}; the blueprint's {name} (orders), {NAME} (ORDERS) and {Title} (Orders);
one of them, {item} (order) and {Item} (Order). Literal braces are doubled.
"""

VIEW = '''"""The {name} blueprint: list them, get one by id (samples, until it has storage)."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field
from pydantic.dataclasses import dataclass
from quart import Blueprint, abort
from quart_schema import validate_querystring, validate_response

from {package}.auth import require_scopes
from {package}.openapi import problem_response

{name} = Blueprint("{name}", __name__, url_prefix="/{name}")


@dataclass
class {Item}:
    """One of the {name}."""

    id: int
    name: str


@dataclass
class {Title}Query:
    """Which of the {name} to list."""

    limit: Annotated[int, Field(ge=1, le=100)] = 10


@dataclass
class {Title}Page:
    """A page of the {name}."""

    {name}: list[{Item}]
    limit: int


# Stands in for storage (a table, another service): replace it, and the tests that expect it.
SAMPLE_{NAME} = ({Item}(1, "first"), {Item}(2, "second"))


@{name}.get("/")
@require_scopes("{name}:read")
@validate_querystring({Title}Query)
@validate_response({Title}Page)
async def list_{name}(query_args: {Title}Query) -> {Title}Page:
    """List the {name}, at most `limit` of them."""
    page = list(SAMPLE_{NAME}[: query_args.limit])
    return {Title}Page({name}=page, limit=query_args.limit)


@{name}.get("/<int:{item}_id>")
@require_scopes("{name}:read")
@validate_response({Item})
@problem_response(404, description="No {item} has this id.")
async def get_{item}({item}_id: int) -> {Item}:
    """Get one of the {name} by its id."""
    found = next((item for item in SAMPLE_{NAME} if item.id == {item}_id), None)
    if found is None:
        abort(404, f"There is no {item} {{{item}_id}}.")
    return found
'''

TEST = '''"""The {name} blueprint."""

from quart.typing import TestClientProtocol as Client

from .tokens import bearer

FIRST = {{"id": 1, "name": "first"}}


async def test_list_{name}(client: Client) -> None:
    """The list holds the sample {name}, at most `limit` of them."""
    response = await client.get("/{name}/", query_string={{"limit": "1"}}, headers=bearer("{name}:read"))
    assert (response.status_code, response.content_type) == (200, "application/json")
    assert await response.get_json() == {{"{name}": [FIRST], "limit": 1}}


async def test_list_{name}_with_invalid_limit(client: Client) -> None:
    """A limit that is not a number from 1 to 100 is a 400 naming the parameter."""
    response = await client.get("/{name}/", query_string={{"limit": "many"}}, headers=bearer("{name}:read"))
    assert (response.status_code, response.content_type) == (400, "application/problem+json")
    problem = await response.get_json()
    assert [error["loc"] for error in problem["errors"]] == [["query", "limit"]]


async def test_get_{item}(client: Client) -> None:
    """A sample {item} is found by its id."""
    response = await client.get("/{name}/1", headers=bearer("{name}:read"))
    assert (response.status_code, response.content_type) == (200, "application/json")
    assert await response.get_json() == FIRST


async def test_get_{item}_not_found(client: Client) -> None:
    """An id that no {item} has is a 404 saying so."""
    response = await client.get("/{name}/99", headers=bearer("{name}:read"))
    assert (response.status_code, response.content_type) == (404, "application/problem+json")
    problem = await response.get_json()
    assert (problem["title"], problem["detail"]) == ("Not Found", "There is no {item} 99.")


async def test_{name}_need_a_token_with_their_scope(client: Client) -> None:
    """Without a token: 401; with a token lacking {name}:read: 403 naming it."""
    response = await client.get("/{name}/1")
    assert (response.status_code, response.headers["WWW-Authenticate"]) == (401, "Bearer")
    response = await client.get("/{name}/1", headers=bearer("{name}:write"))
    assert (response.status_code, (await response.get_json())["detail"]) == (
        403,
        "The token lacks a scope this route needs: {name}:read.",
    )
'''
