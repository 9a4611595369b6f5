"""The database lane: `GET /bench_items/<id>` on the service (SQLAlchemy) and on a bare app (asyncpg).

Both read the same row of a scratch PostgreSQL database, with the same pool, served by the same
server line as `make serve`, in the same run; the rest of the bench runs without it when no
PostgreSQL answers.
"""

from __future__ import annotations

import argparse
from contextlib import ExitStack

from bench.bare_database import NAME
from bench.instructions import per_request
from bench.postgres import POOL_SIZE, ROWS, scratch_database, server_env, server_version
from bench.report import Lane
from bench.rounds import alternate, free_port, serve_all
from bench.servers import UNREACHABLE_LIMIT, Target

PATH = f"/{NAME}/1"


def measure_database(server: str, args: argparse.Namespace, prefix: list[str], wrk: bool, count: bool) -> Lane:
    """Both sides in alternated rounds, and their instructions if `count`; NoServerError without PostgreSQL."""
    version = server_version()
    targets = [Target(server, bare=False, database=True), Target(server, bare=True, database=True)]
    with scratch_database() as url:
        env = {"WORKERS": str(args.workers), **UNREACHABLE_LIMIT, **server_env(url)}
        with ExitStack() as stack:
            ports = serve_all(stack, targets, env, prefix, [PATH], wrk)
            load = alternate(targets, ports, [PATH], args.rounds, args.duration, wrk)
        one_process = {**env, "WORKERS": "1"}  # callgrind counts the process it starts, not worker processes
        counts = {t.name: per_request(t, free_port(), one_process, PATH) for t in targets} if count else {}
    return Lane(targets, PATH, load, setup(version), counts)


def setup(version: str) -> dict[str, str]:
    """The lane's setup, for the report."""
    return {
        "database": f"PostgreSQL {version} on 127.0.0.1:5432, a scratch database of {ROWS:,} rows, dropped after",
        "pool": f"{POOL_SIZE} connections per worker on each side (the service: no overflow)",
        "service": "`session().get(ItemRow, id)`, a pydantic response checked by quart-schema (bench/resource.py)",
        "bare": "`pool.fetchrow('SELECT id, name ... WHERE id = $1')` returned as a dict (bench/bare_database.py)",
    }
