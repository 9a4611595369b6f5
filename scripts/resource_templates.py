"""What `make resource NAME=...` writes (scripts/resource.py fills them in with str.format; Alembic writes
the migration).

Placeholders: {package}; the resource's {name} (orders), {NAME} and {Title} (Orders); one of them,
{item} (order) and {Item} (Order). Literal braces are doubled.
"""

MODEL = '''"""The {name} table: one row for each of them, its name unique."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import DateTime, String, Text, func
from sqlalchemy.orm import Mapped, mapped_column

from {package}.models import Base

NAME_LENGTH = 100


class {Item}Row(Base):
    """One of the {name}: its name (unique), a note, and when it was created."""

    __tablename__ = "{name}"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(NAME_LENGTH), unique=True)
    note: Mapped[str] = mapped_column(Text, default="")
    # Set by the database, read back by the INSERT itself (RETURNING).
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
'''

VIEW = '''"""The {name} resource, kept in its table: create, list by pages, read, change and delete."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from pydantic import Field
from pydantic.dataclasses import dataclass
from quart import Blueprint, abort, url_for
from quart_schema import validate_querystring, validate_request, validate_response
from sqlalchemy import select

from {package}.auth import require_scopes
from {package}.database import conflict, session
from {package}.models.{name} import NAME_LENGTH, {Item}Row
from {package}.openapi import no_content_response, problem_response

{name} = Blueprint("{name}", __name__, url_prefix="/{name}")
MAX_ID = 2**31 - 1  # ids are INTEGER, 32 bits on PostgreSQL: a larger one is no id, never a database error
NOT_FOUND = "None of the {name} has this id."
TAKEN = "Another of the {name} has this name."

# One line of text: no control characters (PostgreSQL's text holds no NUL).
{Item}Name = Annotated[str, Field(min_length=1, max_length=NAME_LENGTH, pattern=r"^[^\\x00-\\x1f\\x7f]+$")]
{Item}Note = Annotated[str, Field(max_length=2000, pattern=r"^[^\\x00]*$")]


@dataclass
class New{Item}:
    """What to store: a name none of the other {name} has, and a note."""

    name: {Item}Name
    note: {Item}Note = ""


@dataclass
class {Item}Changes:
    """What to change: a field left out, or null, stays as it is."""

    name: {Item}Name | None = None
    note: {Item}Note | None = None


@dataclass
class {Item}:
    """One of the {name}, as stored."""

    id: int
    name: str
    note: str
    created_at: datetime

    @classmethod
    def of(cls, row: {Item}Row) -> {Item}:
        """The answer for `row` (SQLite keeps no time zone: its times are UTC)."""
        return cls(row.id, row.name, row.note, row.created_at.replace(tzinfo=row.created_at.tzinfo or UTC))


@dataclass
class {Title}Query:
    """Which page: those with an id greater than `after`, by id, at most `limit` of them."""

    after: Annotated[int, Field(ge=0, le=MAX_ID)] = 0
    limit: Annotated[int, Field(ge=1, le=100)] = 20


@dataclass
class {Title}Page:
    """A page of the {name}; `next_after` is the next page's `after`, null on the last."""

    {name}: list[{Item}]
    next_after: int | None


@{name}.post("/")
@require_scopes("{name}:write")
@validate_request(New{Item})
@validate_response({Item}, 201)
@problem_response(409, description=TAKEN)
async def post_{item}(data: New{Item}) -> tuple[{Item}, int, dict[str, str]]:
    """Create one of the {name}; the answer's Location is its URL."""
    row = {Item}Row(name=data.name, note=data.note)
    async with conflict(f"One of the {name} is named {{data.name!r}} already."):
        session().add(row)
    return {Item}.of(row), 201, {{"Location": url_for(".get_{item}", {item}_id=row.id)}}


@{name}.get("/")
@require_scopes("{name}:read")
@validate_querystring({Title}Query)
@validate_response({Title}Page)
async def list_{name}(query_args: {Title}Query) -> {Title}Page:
    """List the {name} by id, a page at a time: those after `after`, at most `limit` of them."""
    statement = select({Item}Row).where({Item}Row.id > query_args.after).order_by({Item}Row.id)
    rows = list(await session().scalars(statement.limit(query_args.limit + 1)))  # one more: is there a next page?
    page = rows[: query_args.limit]
    return {Title}Page([{Item}.of(row) for row in page], page[-1].id if len(rows) > len(page) else None)


@{name}.get("/<int:{item}_id>")
@require_scopes("{name}:read")
@validate_response({Item})
@problem_response(404, description=NOT_FOUND)
async def get_{item}({item}_id: int) -> {Item}:
    """Get one of the {name} by its id."""
    return {Item}.of(await _found({item}_id))


@{name}.patch("/<int:{item}_id>")
@require_scopes("{name}:write")
@validate_request({Item}Changes)
@validate_response({Item})
@problem_response(404, description=NOT_FOUND)
@problem_response(409, description=TAKEN)
async def patch_{item}({item}_id: int, data: {Item}Changes) -> {Item}:
    """Change the fields given of one of the {name}."""
    row = await _found({item}_id)
    async with conflict(f"One of the {name} is named {{data.name!r}} already."):
        row.name = row.name if data.name is None else data.name
        row.note = row.note if data.note is None else data.note
    return {Item}.of(row)


@{name}.delete("/<int:{item}_id>")
@require_scopes("{name}:write")
@no_content_response("Deleted.")
@problem_response(404, description=NOT_FOUND)
async def delete_{item}({item}_id: int) -> tuple[str, int]:
    """Delete one of the {name}."""
    await session().delete(await _found({item}_id))
    return "", 204


async def _found({item}_id: int) -> {Item}Row:
    """The row of the {item} with this id, or a 404."""
    row = await session().get({Item}Row, {item}_id) if {item}_id <= MAX_ID else None
    if row is None:
        abort(404, f"None of the {name} has id {{{item}_id}}.")
    return row
'''

TEST = '''"""The {name} resource: what each route answers and stores; each test's writes are undone."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import pytest
from quart import Quart
from quart.typing import TestClientProtocol as Client
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from {package}.models.{name} import {Item}Row
from {package}.views.{name} import MAX_ID

from .helpers import assert_problem
from .tokens import bearer, client_with_token

pytestmark = pytest.mark.usefixtures("database")  # every test in a transaction rolled back at its end


@pytest.fixture(name="client")
def _client(app: Quart) -> Client:
    """A test client sending a token with both scopes (read, write) of the {name}."""
    return client_with_token(app, "{name}:read", "{name}:write")


@pytest.mark.parametrize(("method", "path"), [("POST", "/{name}/"), ("GET", "/{name}/"), ("GET", "/{name}/1")])
async def test_{name}_need_a_token(app: Quart, method: str, path: str) -> None:
    """Without a token, every route is a 401 asking for one."""
    response = await app.test_client().open(path, method=method, json={{}})
    await assert_problem(response, 401, "This route needs a bearer token")
    assert response.headers["WWW-Authenticate"] == "Bearer"


async def test_changing_{name}_needs_the_write_scope(app: Quart) -> None:
    """A token that may read only is a 403 naming {name}:write."""
    response = await app.test_client().post("/{name}/", json={{"name": "x"}}, headers=bearer("{name}:read"))
    await assert_problem(response, 403, "The token lacks a scope this route needs: {name}:write.")


async def create(client: Client, name: str, note: str = "") -> dict[str, Any]:
    """POST one of the {name}; return the answer's body."""
    response = await client.post("/{name}/", json={{"name": name, "note": note}})
    assert response.status_code == 201, await response.get_data(as_text=True)
    body: dict[str, Any] = await response.get_json()
    return body


async def stored(database: AsyncSession) -> list[tuple[str, str]]:
    """The name and note of each row of the table, by id."""
    rows = await database.execute(select({Item}Row.name, {Item}Row.note).order_by({Item}Row.id))
    return [(name, note) for name, note in rows]


async def test_post_{item}(client: Client, database: AsyncSession) -> None:
    """A new {item} is stored, answered 201 with its id, creation time and URL (Location)."""
    response = await client.post("/{name}/", json={{"name": "first", "note": "a note"}})
    assert (response.status_code, response.content_type) == (201, "application/json")
    body = await response.get_json()
    assert body == {{"id": body["id"], "name": "first", "note": "a note", "created_at": body["created_at"]}}
    assert datetime.fromisoformat(body["created_at"]).utcoffset() is not None
    assert response.headers["Location"] == f"/{name}/{{body['id']}}"
    assert await stored(database) == [("first", "a note")]


async def test_post_{item}_with_a_taken_name(client: Client, database: AsyncSession) -> None:
    """A name that another {item} has is a 409 naming it, and nothing more is stored."""
    await create(client, "twice")
    response = await client.post("/{name}/", json={{"name": "twice"}})
    await assert_problem(response, 409, "One of the {name} is named 'twice' already.")
    assert await stored(database) == [("twice", "")]


@pytest.mark.parametrize(
    ("body", "errors"),
    [
        ({{}}, [(["body", "name"], "missing")]),
        ({{"name": ""}}, [(["body", "name"], "string_too_short")]),
        ({{"name": "x" * 101}}, [(["body", "name"], "string_too_long")]),
        (
            {{"name": "two\\nlines", "note": 7}},
            [(["body", "name"], "string_pattern_mismatch"), (["body", "note"], "string_type")],
        ),
    ],
)
async def test_post_{item}_with_invalid_fields(
    client: Client, database: AsyncSession, body: dict[str, object], errors: list[tuple[list[str], str]]
) -> None:
    """A missing, empty, too long or multi-line name, or a note that is not text, is a 400 naming each field."""
    response = await client.post("/{name}/", json=body)
    problem: dict[str, Any] = await assert_problem(response, 400, "")
    assert [(error["loc"], error["type"]) for error in problem["errors"]] == errors
    assert await stored(database) == []


async def test_get_{item}(client: Client) -> None:
    """One of the {name} is found by its id, as it was created."""
    created = await create(client, "found", "its note")
    response = await client.get(f"/{name}/{{created['id']}}")
    assert (response.status_code, response.content_type) == (200, "application/json")
    assert await response.get_json() == created


@pytest.mark.parametrize("method", ["GET", "PATCH", "DELETE"])
async def test_{item}_not_found(client: Client, method: str) -> None:
    """An id that none of the {name} has is a 404 saying so, whatever the method."""
    response = await client.open("/{name}/1", method=method, json={{}})
    await assert_problem(response, 404, "None of the {name} has id 1.")


async def test_{item}_id_past_the_column_is_not_found(client: Client) -> None:
    """An id larger than the id column holds is a 404, not a database error."""
    await assert_problem(await client.get(f"/{name}/{{MAX_ID + 1}}"), 404, f"None of the {name} has id {{MAX_ID + 1}}.")


async def test_list_{name}_by_pages(client: Client) -> None:
    """The {name} come by id, `limit` a page; `next_after` leads on, null on the last page."""
    ids = [(await create(client, name))["id"] for name in ("a", "b", "c")]
    first = await (await client.get("/{name}/", query_string={{"limit": "2"}})).get_json()
    assert ([item["id"] for item in first["{name}"]], first["next_after"]) == (ids[:2], ids[1])
    response = await client.get("/{name}/", query_string={{"limit": "2", "after": str(first["next_after"])}})
    assert (response.status_code, response.content_type) == (200, "application/json")
    last = await response.get_json()
    assert ([item["name"] for item in last["{name}"]], last["next_after"]) == (["c"], None)


async def test_list_{name}_empty(client: Client) -> None:
    """With none stored, the list is one empty page."""
    response = await client.get("/{name}/")
    assert (response.status_code, await response.get_json()) == (200, {{"{name}": [], "next_after": None}})


@pytest.mark.parametrize(
    ("query", "field"), [({{"limit": "0"}}, "limit"), ({{"limit": "101"}}, "limit"), ({{"after": "-1"}}, "after")]
)
async def test_list_{name}_out_of_bounds(client: Client, query: dict[str, str], field: str) -> None:
    """A limit outside 1 to 100, or a negative `after`, is a 400 naming the parameter."""
    problem: dict[str, Any] = await assert_problem(await client.get("/{name}/", query_string=query), 400, "")
    assert [error["loc"] for error in problem["errors"]] == [["query", field]]


async def test_patch_{item}(client: Client, database: AsyncSession) -> None:
    """Only the fields given change: a new note, the same name."""
    created = await create(client, "kept", "old")
    response = await client.patch(f"/{name}/{{created['id']}}", json={{"note": "new"}})
    assert (response.status_code, response.content_type) == (200, "application/json")
    assert await response.get_json() == created | {{"note": "new"}}
    assert await stored(database) == [("kept", "new")]


async def test_patch_{item}_to_a_taken_name(client: Client, database: AsyncSession) -> None:
    """Renaming one of the {name} to a name another has is a 409, and neither changes."""
    await create(client, "one")
    other = await create(client, "other")
    response = await client.patch(f"/{name}/{{other['id']}}", json={{"name": "one"}})
    await assert_problem(response, 409, "One of the {name} is named 'one' already.")
    assert await stored(database) == [("one", ""), ("other", "")]


async def test_patch_{item}_with_an_invalid_field(client: Client) -> None:
    """An empty name is a 400 naming the field."""
    created = await create(client, "valid")
    response = await client.patch(f"/{name}/{{created['id']}}", json={{"name": ""}})
    problem: dict[str, Any] = await assert_problem(response, 400, "")
    assert [error["loc"] for error in problem["errors"]] == [["body", "name"]]


async def test_delete_{item}(client: Client, database: AsyncSession) -> None:
    """A deleted {item} is answered 204 with no body, and is gone."""
    created = await create(client, "gone")
    response = await client.delete(f"/{name}/{{created['id']}}")
    assert (response.status_code, await response.get_data()) == (204, b"")
    assert await database.scalar(select(func.count()).select_from({Item}Row)) == 0
    await assert_problem(await client.get(f"/{name}/{{created['id']}}"), 404, "")
'''
