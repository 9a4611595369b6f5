"""The baseline: a bare Quart app with the service's two measured routes and nothing else."""

from quart import Quart


def create_app() -> Quart:
    """GET / -> {} and GET /healthz -> {"status": "ok"}: no middleware, logging, metrics or headers."""
    app = Quart(__name__, static_folder=None)

    @app.get("/")
    async def get_home() -> dict[str, object]:
        return {}

    @app.get("/healthz")
    async def get_healthz() -> dict[str, str]:
        return {"status": "ok"}

    return app
