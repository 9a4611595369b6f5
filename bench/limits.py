"""The rate limits lane's service: `make serve`'s app plus two bench-only routes alike but for their limits.

`GET /bench_limits/limited` has a limit too high to reach (every request still checks and counts it,
and its answer carries the RateLimit headers); `GET /bench_limits/exempt` is `@rate_exempt`. Both are
`@public`: the lane measures the limits, not tokens. `create_app` counts in the worker's memory,
`create_redis_app` in the Redis at REDIS_URL.
"""

from __future__ import annotations

from quart import Blueprint, Quart

from myservice import create_app as create_service
from myservice.auth import public
from myservice.limits import rate_exempt, rate_limit
from myservice.views import find_blueprints

NAME = "bench_limits"  # the blueprint and the URL segment
LIMITED, EXEMPT = f"/{NAME}/limited", f"/{NAME}/exempt"
REDIS_URL = "redis://127.0.0.1:6379/13"  # a database of its own; its keys expire within a millisecond or so
bench_limits = Blueprint(NAME, __name__)


@bench_limits.get(LIMITED)
@public
@rate_limit("999999999/second")
async def get_limited() -> dict[str, str]:
    """An empty object, rate limited."""
    return {}


@bench_limits.get(EXEMPT)
@public
@rate_exempt
async def get_exempt() -> dict[str, str]:
    """An empty object, not rate limited."""
    return {}


def create_app() -> Quart:
    """The service with the two routes, counting in memory."""
    return create_service(blueprints=[*find_blueprints(), bench_limits])


def create_redis_app() -> Quart:
    """The service with the two routes, counting in the Redis at REDIS_URL."""
    return create_service(blueprints=[*find_blueprints(), bench_limits], settings={"RATE_LIMIT_STORAGE_URL": REDIS_URL})
