"""The home blueprint: the service's root endpoint."""

from __future__ import annotations

from pydantic.dataclasses import dataclass
from quart import Blueprint
from quart_schema import validate_response

from myservice.auth import public

home = Blueprint("home", __name__)


@dataclass
class Home:
    """The service's root: an empty object, for now."""


@home.get("/")
@public
@validate_response(Home)
async def get_home() -> Home:
    """Return an empty JSON object."""
    return Home()
