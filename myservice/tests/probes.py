"""A test-only blueprint of routes that exercise the middleware, and an app factory that mounts it.

`hypercorn 'myservice.tests.probes:create_probe_app()'` serves it for the real-process tests.
"""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

from pydantic.dataclasses import dataclass
from quart import Blueprint, Quart, abort, current_app, request
from quart_schema import validate_response

from myservice import create_app
from myservice.limits import rate_exempt
from myservice.request_id import current_request_id
from myservice.views import find_blueprints

from .tokens import open_to_anyone

probes = Blueprint("probes", __name__, url_prefix="/probes")


@probes.post("/echo")
async def post_echo() -> dict[str, object]:
    """Echo the JSON body."""
    return {"received": await request.get_json()}


@probes.get("/boom")
async def get_boom() -> dict[str, object]:
    """Fail with a secret in the exception text."""
    raise RuntimeError("secret database password in the message")


@probes.get("/abort/<int:code>")
async def get_abort(code: int) -> dict[str, object]:
    """abort() with a status and a detail."""
    abort(code, f"aborted with {code}")


@probes.get("/pid")
@rate_exempt  # asked as often as it takes to find each worker
async def get_pid() -> dict[str, object]:
    """Which worker process answers."""
    return {"pid": os.getpid()}


@probes.get("/request-id")
async def get_request_id() -> dict[str, object]:
    """The request id as view code sees it."""
    current_app.logger.info("handling with an extra", extra={"order": 42})
    return {"request_id": current_request_id()}


@probes.get("/items/<int:item_id>")
async def get_item(item_id: int) -> dict[str, object]:
    """A route with a variable part."""
    return {"item": item_id}


@probes.get("/folder/", defaults={"page": 1})
@probes.get("/folder/<int:page>")
async def get_folder(page: int) -> dict[str, object]:
    """A route ending in a slash, as `make blueprint` scaffolds them; /folder/1 redirects to it (its default)."""
    return {"page": page}


@probes.get("/page")
async def get_page() -> tuple[str, int, dict[str, str]]:
    """An HTML response."""
    return "<p>hello</p>", 200, {"Content-Type": "text/html; charset=utf-8"}


@probes.get("/framed")
async def get_framed() -> tuple[dict[str, object], int, dict[str, str]]:
    """A response that sets its own Content-Security-Policy: it may be framed by its own site."""
    return {}, 200, {"Content-Security-Policy": "frame-ancestors 'self'"}


@probes.get("/slow")
async def get_slow() -> dict[str, object]:
    """Take PROBE_SLOW_SECONDS, then say whether shutdown began meanwhile."""
    await asyncio.sleep(float(os.environ.get("PROBE_SLOW_SECONDS", "0.1")))
    return {"shutting_down": current_app.extensions["readiness"].shutting_down}


@dataclass
class Count:
    """A count."""

    count: int


@probes.get("/wrong-shape")
@validate_response(Count)
async def get_wrong_shape() -> dict[str, object]:
    """Return a body that does not match the documented response."""
    return {"count": "many"}


def create_probe_app(settings: dict[str, object] | None = None) -> Quart:
    """The service plus the probes; PROBE_LIFESPAN_FILE, if set, records before/after serving."""
    app = open_to_anyone(create_app(blueprints=[*find_blueprints(), probes], settings=settings), probes)
    lifespan_file = os.environ.get("PROBE_LIFESPAN_FILE")
    if lifespan_file:

        @app.before_serving
        async def open_resource() -> None:
            Path(lifespan_file).write_text("opened\n")

        @app.after_serving
        async def close_resource() -> None:
            with Path(lifespan_file).open("a") as file:
                file.write("closed\n")

    return app
