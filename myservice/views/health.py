"""The health blueprint: liveness and readiness probes."""

from __future__ import annotations

from quart import Blueprint, current_app

health = Blueprint("health", __name__)


@health.get("/healthz")
async def get_healthz() -> dict[str, str]:
    """Liveness: the process serves requests."""
    return {"status": "ok"}


@health.get("/readyz")
async def get_readyz() -> tuple[dict[str, object], int]:
    """Readiness: every registered check passes and shutdown has not begun."""
    readiness = current_app.extensions["readiness"]
    if readiness.shutting_down:
        return {"status": "shutting down", "checks": {}}, 503
    checks = await readiness.run(current_app.config["READINESS_TIMEOUT"])
    failing = sorted(name for name, result in checks.items() if result != "ok")
    if failing:
        return {"status": "unavailable", "failing": failing, "checks": checks}, 503
    return {"status": "ok", "checks": checks}, 200
