"""The database lane's baseline: a bare Quart app reading the same row with an asyncpg pool, nothing else."""

from __future__ import annotations

import os

import asyncpg  # type: ignore[import-untyped]  # asyncpg ships no type hints
from quart import Quart, abort

# bench.resource's table and URL segment, written out: the baseline imports nothing of the service.
NAME = "bench_items"
URL_VARIABLE = "BENCH_DATABASE_URL"
POOL_SIZE_VARIABLE = "BENCH_DATABASE_POOL_SIZE"
POOL = "asyncpg"  # in app.extensions


def create_app() -> Quart:
    """GET /bench_items/<id> -> {"id": ..., "name": ...} from the database at $BENCH_DATABASE_URL, and GET /healthz."""
    app = Quart(__name__, static_folder=None)

    @app.before_serving
    async def open_pool() -> None:
        size = int(os.environ[POOL_SIZE_VARIABLE])
        app.extensions[POOL] = await asyncpg.create_pool(os.environ[URL_VARIABLE], min_size=size, max_size=size)

    @app.after_serving
    async def close_pool() -> None:
        await app.extensions.pop(POOL).close()

    @app.get(f"/{NAME}/<int:item_id>")
    async def get_item(item_id: int) -> dict[str, object]:
        row = await app.extensions[POOL].fetchrow(f"SELECT id, name FROM {NAME} WHERE id = $1", item_id)
        if row is None:
            abort(404)
        return dict(row)

    @app.get("/healthz")
    async def get_healthz() -> dict[str, str]:
        return {"status": "ok"}

    return app
