"""Rate limits per caller and route: quart-rate-limiter's GCRA, counted in each worker's memory or, when
RATE_LIMIT_STORAGE_URL names one, in Redis, which every worker and replica shares (see docs/limits.md).

A route declares `@rate_limit("10/minute")` or `@rate_exempt`; a route that declares neither has
RATE_LIMIT_DEFAULT. The caller is the authenticated subject (`auth.current_caller()`), else the client's address.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from datetime import timedelta
from typing import Any, TypeVar

from quart import Quart, Response, current_app, g, request
from quart_rate_limiter import QUART_RATE_LIMITER_EXEMPT_ATTRIBUTE as EXEMPT
from quart_rate_limiter import QUART_RATE_LIMITER_LIMITS_ATTRIBUTE as LIMITS
from quart_rate_limiter import RateLimit, RateLimiter, RateLimitExceeded
from quart_rate_limiter import rate_exempt as rate_exempt  # re-exported: views import both from here
from quart_rate_limiter import rate_limit as _rate_limit

from myservice import auth, errors
from myservice.limit_stores import FAILED, MemoryStore, RedisStore, StoreGuard
from myservice.settings import PERIODS, RATE_LIMIT

KEY = "limits"  # app.extensions[KEY]: the RateLimiter
F = TypeVar("F", bound=Callable[..., Any])
REPLACED = ("_get_limits_for_view_function", "_raise_on_rejection", "_update_limits", "_after_request")


def parse(text: str) -> RateLimit:
    """A limit written as settings and routes write it (100/minute); a ValueError names a bad one."""
    match = RATE_LIMIT.fullmatch(text)
    if match is None:
        raise ValueError(f"rate limit {text!r}: expected <requests>/<second|minute|hour|day>, such as 100/minute")
    return RateLimit(int(match[1]), timedelta(seconds=PERIODS[match[2]]))


def rate_limit(*limits: str) -> Callable[[F], F]:
    """Limit each caller of the route to each of `limits` ("10/second", "100/hour"), instead of the default."""
    return _rate_limit(limits=[parse(text) for text in limits])


def init_app(app: Quart) -> None:
    """Check every limited request against its limits, in memory or in Redis; answer 429 past them."""
    url = app.config["RATE_LIMIT_STORAGE_URL"]
    store = StoreGuard(RedisStore(url) if url else MemoryStore(), app.config["RATE_LIMIT_ON_STORAGE_ERROR"])
    app.extensions[KEY] = Limiter(
        app, key_function=caller_key, store=store, default_limits=[parse(app.config["RATE_LIMIT_DEFAULT"])]
    )
    app.register_error_handler(RateLimitExceeded, too_many_requests)


class Limiter(RateLimiter):
    """quart-rate-limiter's limiter, except that a route's own limits replace the default instead of adding to
    it, a request is checked and counted in one atomic step (its own reads, then writes: a race between
    workers), and a request the store failed for gets no RateLimit headers (they would be guesses)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:  # noqa: ANN401  # as RateLimiter's
        # The methods replaced below are private: fail at start-up, not silently, if a release renames them.
        for name in REPLACED:
            if not callable(getattr(RateLimiter, name, None)):
                raise RuntimeError(f"{__name__}.Limiter replaces RateLimiter.{name}, which this release lacks")
        super().__init__(*args, **kwargs)
        self.guard: StoreGuard = kwargs["store"]

    def _get_limits_for_view_function(self, view_func: Callable[..., Any] | None, blueprint: object) -> list[RateLimit]:
        return self.limits_of(view_func, blueprint)

    async def _raise_on_rejection(self, endpoint: str, rate_limits: list[RateLimit]) -> None:
        """Nothing: `_update_limits`, called next, checks and counts at once (see limit_stores)."""

    async def _update_limits(self, endpoint: str, rate_limits: list[RateLimit]) -> None:
        """Count the request against each of its limits, or raise RateLimitExceeded if one refuses it."""
        if rate_limits:
            keyed = [(await self._create_key(endpoint, limit), limit) for limit in rate_limits]
            wait = await self.guard.admit(keyed)
            if wait is not None:
                raise RateLimitExceeded(math.ceil(wait))

    def limits_of(self, view_func: Callable[..., Any] | None, blueprint: object = None) -> list[RateLimit]:
        """The limits of a route: none if exempt (or unmatched), its own and its blueprint's, else the default."""
        if view_func is None or getattr(view_func, EXEMPT, False):
            return []
        return getattr(view_func, LIMITS, []) + getattr(blueprint, LIMITS, []) or self._default_rate_limits

    async def _after_request(self, response: Response) -> Response:
        return response if g.get(FAILED) else await super()._after_request(response)


def _header(description: str) -> dict[str, object]:
    return {"description": description, "schema": {"type": "integer", "minimum": 0}}


TOO_MANY = "Too many requests from this caller: see Retry-After and the RateLimit headers."
RETRY_AFTER = _header("Seconds to wait before sending the request again.")
# The three fields of the earlier IETF drafts (draft-ietf-httpapi-ratelimit-headers, before `RateLimit` and
# `RateLimit-Policy` replaced them), as quart-rate-limiter sends them on every answer of a limited route.
HEADERS = {
    429: {
        "Retry-After": RETRY_AFTER,
        "RateLimit-Limit": _header("Requests a caller may send in the limit's period."),
        "RateLimit-Remaining": _header("Requests left to the caller now."),
        "RateLimit-Reset": _header("Seconds until the caller has the whole limit again."),
    },
    503: {"Retry-After": RETRY_AFTER},
}


def problems(app: Any, view: Callable[..., Any], blueprint: object) -> dict[int, str]:  # noqa: ANN401  # a weakproxy
    """The problems a route answers because of its limits, by status (for its OpenAPI document of `app`)."""
    if not app.extensions[KEY].limits_of(view, blueprint):
        return {}
    too_many = {429: TOO_MANY}
    if app.config["RATE_LIMIT_STORAGE_URL"] and app.config["RATE_LIMIT_ON_STORAGE_ERROR"] == "closed":
        return too_many | {503: "The rate limit store does not answer (RATE_LIMIT_ON_STORAGE_ERROR is closed)."}
    return too_many


async def caller_key() -> str:
    """Whose requests are counted together: the authenticated subject, else the client's address."""
    caller = auth.current_caller()
    if caller is not None:
        return f"sub:{caller.subject}"
    return f"ip:{client_address(current_app.config['RATE_LIMIT_TRUSTED_HOPS'])}"


def client_address(hops: int) -> str:
    """The socket's peer, or the address `hops` from the right of X-Forwarded-For, which the last of `hops`
    trusted proxies wrote (those to its left the client may have made up). Too few entries: the peer."""
    if hops:
        forwarded = [item.strip() for item in ",".join(request.headers.getlist("X-Forwarded-For")).split(",")]
        forwarded = [item for item in forwarded if item]
        if len(forwarded) >= hops:
            return forwarded[-hops]
    return request.remote_addr or "unknown"


async def too_many_requests(error: RateLimitExceeded) -> Response:
    """429 problem+json, with Retry-After (the RateLimit-* headers are added after it)."""
    seconds = str(error.retry_after)
    return errors.problem(429, f"Too many requests: retry after {seconds} s.", {"Retry-After": seconds})
