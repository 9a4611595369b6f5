"""The database lane's service: `make serve`'s app plus one bench-only resource read from PostgreSQL.

`GET /bench_items/<id>` is written as a scaffolded resource's view will be: the request's session,
a primary-key read, a pydantic response validated by quart-schema, a 404 problem when there is no
such row. Its model has a declarative base of its own, so the service's metadata and migrations
never see the bench's table.
"""

from __future__ import annotations

from pydantic.dataclasses import dataclass
from quart import Blueprint, Quart, abort
from quart_schema import validate_response
from sqlalchemy import MetaData, String
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from myservice import create_app as create_service
from myservice.auth import public
from myservice.database import session
from myservice.openapi import problem_response
from myservice.views import find_blueprints

NAME = "bench_items"  # the table, the blueprint and the URL segment


class Base(DeclarativeBase):
    """The bench's own models, apart from the service's."""

    metadata = MetaData()


class ItemRow(Base):
    """One row of the bench's table."""

    __tablename__ = NAME

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(100))


@dataclass
class Item:
    """One of the bench's items."""

    id: int
    name: str


bench_items = Blueprint(NAME, __name__, url_prefix=f"/{NAME}")


@bench_items.get("/<int:item_id>")
@public  # the lane measures the data layer against bare asyncpg, not token verification
@validate_response(Item)
@problem_response(404, description="No item has this id.")
async def get_bench_item(item_id: int) -> Item:
    """Get one item by its id."""
    row = await session().get(ItemRow, item_id)
    if row is None:
        abort(404, f"There is no item {item_id}.")
    return Item(row.id, row.name)


def create_app() -> Quart:
    """The service with every blueprint it finds, plus the bench's."""
    return create_service(blueprints=[*find_blueprints(), bench_items])
