"""A test-only blueprint with validated input (JSON body, query string, headers), and an app that mounts it.

It follows the pattern of README "Adding a blueprint" (get_contract_order: an `abort(404)` documented
with `problem_response`, as the API docs say); test_api.py and test_fuzz.py drive it. Handlers are
named for this blueprint: operation ids are handler names, unique in a document, and a user's
blueprints (a scaffolded `orders`) have a get_order and a post_order.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import BeforeValidator, Field
from pydantic.dataclasses import dataclass
from pydantic_core import PydanticCustomError
from quart import Blueprint, Quart, abort
from quart_schema import validate_headers, validate_querystring, validate_request, validate_response

from myservice import create_app
from myservice.auth import caller, require_scopes
from myservice.client import service
from myservice.openapi import problem_response
from myservice.views import find_blueprints

from .downstream import NAME as DOWNSTREAM
from .tokens import open_to_anyone

contract = Blueprint("contract", __name__, url_prefix="/contract")


def json_integer(value: object) -> object:
    """Take what JSON Schema calls an integer (2, 2.0); pydantic's lax mode would also take true and "2"."""
    if isinstance(value, bool | str):
        raise PydanticCustomError("int_type", "Input should be a valid integer")
    return value


# Not Field(strict=True), as docs/growing.md has: strict refuses 2.0, which the document allows and fuzzing sends.
Count = Annotated[int, Field(ge=1), BeforeValidator(json_integer)]


@dataclass
class Address:
    """Where an order goes."""

    street: Annotated[str, Field(min_length=1)]
    city: Annotated[str, Field(min_length=1)]


@dataclass
class Order:
    """An order to place."""

    item: Annotated[str, Field(min_length=1)]
    quantity: Count
    address: Address


@dataclass
class OrderOptions:
    """How to place it."""

    dry_run: bool = False


@dataclass
class Receipt:
    """The order as placed."""

    item: str
    quantity: int
    city: str
    dry_run: bool


@dataclass
class Caller:
    """Who is calling."""

    x_caller: Annotated[str, Field(min_length=1)]


@dataclass
class Greeting:
    """A greeting for the caller."""

    text: str


@contract.post("/orders")
@validate_request(Order)
@validate_querystring(OrderOptions)
@validate_response(Receipt)
async def post_contract_order(data: Order, query_args: OrderOptions) -> Receipt:
    """Place an order."""
    return Receipt(data.item, data.quantity, data.address.city, query_args.dry_run)


@contract.get("/greeting")
@validate_headers(Caller)
@validate_response(Greeting)
async def get_contract_greeting(headers: Caller) -> Greeting:
    """Greet the caller named by the X-Caller header."""
    return Greeting(f"hello, {headers.x_caller}")


@contract.get("/orders/<int:order_id>")
@validate_response(Receipt)
@problem_response(404, description="No order has this id.")
async def get_contract_order(order_id: int) -> Receipt:
    """Get a placed order: none is kept, so every id is a 404."""
    abort(404, f"There is no order {order_id}.")


@contract.get("/stock/<int:item_id>")
@validate_response(Greeting)
@problem_response(502, 504, description="The downstream service failed, or did not answer in time.")
async def get_contract_stock(item_id: int) -> Greeting:
    """Ask the downstream service about an item, as a view that calls another service does."""
    return Greeting((await service(DOWNSTREAM).get(f"/items/{item_id}")).text)


@dataclass
class Who:
    """The caller, as its token says."""

    subject: str
    scopes: list[str]


@contract.get("/caller")
@require_scopes("contract:read")
@validate_response(Who)
async def get_contract_caller() -> Who:
    """Say who calls: a route that needs a scope (the only one here; the others are open to anyone)."""
    found = caller()
    return Who(found.subject, sorted(found.scopes))


def create_contract_app(settings: dict[str, object] | None = None) -> Quart:
    """The service plus the contract routes."""
    return open_to_anyone(create_app(blueprints=[*find_blueprints(), contract], settings=settings), contract)
