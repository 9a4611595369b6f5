"""A test-only table and blueprint that use the data layer as a view would, and an app that mounts them.

The table has its own metadata, out of the models' (whose migrations must match them exactly):
test_database.py creates it inside the test's rolled-back transaction.
"""

from __future__ import annotations

import asyncio

from pydantic.dataclasses import dataclass
from quart import Blueprint, Quart, abort
from quart_schema import validate_request
from sqlalchemy import MetaData, String, text
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from myservice import create_app
from myservice.database import conflict, session
from myservice.models import NAMING_CONVENTION
from myservice.views import find_blueprints

from .tokens import open_to_anyone

records = Blueprint("records", __name__, url_prefix="/records")


class RecordsBase(DeclarativeBase):
    """Test-only tables."""

    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class Record(RecordsBase):
    """A named row; names are unique."""

    __tablename__ = "test_records"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(50), unique=True)


@dataclass
class NewRecord:
    """A record to store; `fail_with` makes the view answer that error status after adding it."""

    name: str
    fail_with: int | None = None


@records.post("/")
@validate_request(NewRecord)
async def post_record(data: NewRecord) -> tuple[dict[str, object], int]:
    """Store a record; a name taken already is a 409."""
    row = Record(name=data.name)
    async with conflict(f"A record named {data.name!r} exists."):
        session().add(row)
    if data.fail_with:
        abort(data.fail_with)
    return {"id": row.id, "name": row.name}, 201


@records.post("/unchecked")
@validate_request(NewRecord)
async def post_unchecked_record(data: NewRecord) -> tuple[dict[str, object], int]:
    """Store a record without `conflict`: a taken name fails at the commit."""
    session().add(Record(name=data.name))
    return {"name": data.name}, 201


@records.get("/<int:record_id>")
async def get_record(record_id: int) -> dict[str, object]:
    """One record, or 404."""
    row = await session().get(Record, record_id)
    if row is None:
        abort(404)
    return {"id": row.id, "name": row.name}


@records.get("/sleep/<float:seconds>")
async def get_sleep(seconds: float) -> dict[str, object]:
    """A statement that takes `seconds` on PostgreSQL."""
    await session().execute(text("SELECT pg_sleep(:seconds)"), {"seconds": seconds})
    return {"slept": seconds}


@records.get("/hold")
async def get_hold() -> dict[str, object]:
    """Hold a connection (a statement ran) until the request is cancelled, as when a client hangs up."""
    await session().execute(text("SELECT 1"))
    await asyncio.sleep(30)
    return {}


@records.get("/boom")
async def get_boom() -> dict[str, object]:
    """A statement that is wrong: a bug, so a 500."""
    await session().execute(text("SELECT * FROM no_such_table"))
    return {}


def create_records_app(settings: dict[str, object]) -> Quart:
    """The service plus the records routes."""
    return open_to_anyone(create_app(blueprints=[*find_blueprints(), records], settings=settings), records)
