"""The health blueprint: liveness and readiness probes."""

from __future__ import annotations

from typing import Literal

from pydantic.dataclasses import dataclass
from quart import Blueprint, current_app
from quart_schema import validate_response

from myservice.auth import public
from myservice.limits import rate_exempt

health = Blueprint("health", __name__)


@dataclass
class Alive:
    """The process serves requests."""

    status: Literal["ok"]


@dataclass
class Ready:
    """Every readiness check passes; `checks` maps each check's name to "ok"."""

    status: Literal["ok"]
    checks: dict[str, str]


@dataclass
class NotReady:
    """A check fails (`failing` names them; `checks` says why), or shutdown has begun."""

    status: Literal["unavailable", "shutting down"]
    checks: dict[str, str]
    failing: list[str]


@health.get("/healthz")
@rate_exempt  # probes: a rate limited probe would restart or unroute a busy pod
@public
@validate_response(Alive)
async def get_healthz() -> Alive:
    """Liveness: the process serves requests."""
    return Alive(status="ok")


@health.get("/readyz")
@rate_exempt
@public
@validate_response(Ready, 200)
@validate_response(NotReady, 503)
async def get_readyz() -> tuple[Ready | NotReady, int]:
    """Readiness: every registered check passes and shutdown has not begun."""
    readiness = current_app.extensions["readiness"]
    if readiness.shutting_down:
        return NotReady(status="shutting down", checks={}, failing=[]), 503
    checks = await readiness.run(current_app.config["READINESS_TIMEOUT"])
    failing = sorted(name for name, result in checks.items() if result != "ok")
    if failing:
        return NotReady(status="unavailable", checks=checks, failing=failing), 503
    return Ready(status="ok", checks=checks), 200
