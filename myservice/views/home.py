"""The home blueprint: the service's root endpoint."""

from quart import Blueprint

home = Blueprint("home", __name__)


@home.get("/")
async def get_home() -> dict[str, object]:
    """Return an empty JSON mapping."""
    return {}
