"""Where rate limits are counted (see limits.py): each worker's memory, or Redis, which every
worker and replica shares; and what a request gets when Redis fails (RATE_LIMIT_ON_STORAGE_ERROR).

Both keep, per key (caller, route and limit), GCRA's theoretical arrival time (TAT): a request is allowed
while TAT - now <= period - period/requests, and then moves the TAT period/requests forward. `admit` checks
and moves every limit of a request at once, atomically: in Redis one Lua script (one round trip, Redis's
clock), in memory one call with no await inside. quart-rate-limiter's own reads, then writes in a second
round trip, so two workers could both read the same TAT and let a burst through over the limit.
"""

from __future__ import annotations

import logging
import math
import time
from datetime import UTC, datetime, timedelta

from quart import g
from quart_rate_limiter import RateLimit
from quart_rate_limiter.store import RateLimiterStoreABC
from redis.asyncio import Redis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import RedisError
from werkzeug.exceptions import ServiceUnavailable

from myservice import metrics
from myservice.settings import SERVICE

logger = logging.getLogger(f"{SERVICE}.limits")
STORAGE_TIMEOUT = 0.25  # seconds a Redis call may take: a Redis down or slow never holds a request longer
LOG_INTERVAL = 60.0  # seconds between two log lines about a failing store (the metric counts every failure)
RETRY_SECONDS = 5  # Retry-After of the 503 that RATE_LIMIT_ON_STORAGE_ERROR=closed answers
# On `g`: set once the store failed during the request; the TATs the request set (its headers' numbers).
FAILED = "_myservice_rate_limit_store_failed"
TATS = "_myservice_rate_limit_tats"
Keyed = list[tuple[str, RateLimit]]
Admission = float | dict[str, datetime]  # seconds to wait, or the new TATs by key

# KEYS: the keys; ARGV: each key's period/requests and period - period/requests, in seconds. Returns the
# seconds to wait, or the keys' new TATs when the request is allowed (as text: Redis would cut numbers to integers).
ADMIT = """
local now = redis.call('TIME')
now = tonumber(now[1]) + tonumber(now[2]) / 1000000
local tats = {}
for i, key in ipairs(KEYS) do
  local tat = math.max(tonumber(redis.call('GET', key) or 0), now)
  local wait = tat - tonumber(ARGV[2 * i]) - now
  if wait > 0 then return string.format('%.6f', wait) end
  tats[i] = tat + tonumber(ARGV[2 * i - 1])
end
for i, key in ipairs(KEYS) do
  tats[i] = string.format('%.6f', tats[i])
  redis.call('SET', key, tats[i], 'PXAT', math.ceil(tonumber(tats[i]) * 1000))
end
return tats
"""


class Store(RateLimiterStoreABC):
    """A store that can also admit a request: check and move all its limits' TATs at once."""

    async def admit(self, keyed: Keyed) -> Admission:
        """The new TATs if every limit allows the request (they are then kept), else the seconds to wait."""
        raise NotImplementedError

    async def before_serving(self) -> None:
        """Nothing to open."""

    async def after_serving(self) -> None:
        """Nothing to close."""


class MemoryStore(Store):
    """The TATs in this worker's memory. A TAT that has passed says no more than a missing one: those are
    dropped whenever the store has doubled, so it holds the callers of about one period."""

    def __init__(self) -> None:
        self.tats: dict[str, datetime] = {}
        self.purge_at = 1024

    async def get(self, key: str, default: datetime) -> datetime:
        """The key's TAT, or `default`."""
        return self.tats.get(key, default)

    async def set(self, key: str, tat: datetime) -> None:
        """Keep the key's TAT; drop the TATs that have passed when the store has doubled."""
        self.tats[key] = tat
        if len(self.tats) >= self.purge_at:
            now = datetime.now(UTC)
            self.tats = {key: tat for key, tat in self.tats.items() if tat > now}
            self.purge_at = max(1024, 2 * len(self.tats))

    async def admit(self, keyed: Keyed) -> Admission:
        """As ADMIT does in Redis (no await before the last set: no other request runs in between)."""
        now = datetime.now(UTC)
        tats = [max(self.tats.get(key, now), now) for key, _ in keyed]
        for tat, (_, limit) in zip(tats, keyed, strict=True):
            wait = (tat - now).total_seconds() - (limit.period.total_seconds() - limit.inverse)
            if wait > 0:
                return wait
        moved = {key: tat + timedelta(seconds=limit.inverse) for tat, (key, limit) in zip(tats, keyed, strict=True)}
        for key, tat in moved.items():
            await self.set(key, tat)
        return moved


class RedisStore(Store):
    """The TATs in Redis, shared by every worker and replica; each key expires when its TAT passes."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.redis: Redis | None = None

    async def before_serving(self) -> None:
        """A client whose connections open on first use: the service starts even if Redis does not answer."""
        # No retries (redis-py's default is three, with backoff): the next request tries again.
        self.redis = Redis.from_url(
            self.url,
            retry=Retry(NoBackoff(), 0),
            socket_timeout=STORAGE_TIMEOUT,
            socket_connect_timeout=STORAGE_TIMEOUT,
        )
        self.script = self.redis.register_script(ADMIT)  # sent by its hash, loaded when Redis does not know it

    async def get(self, key: str, default: datetime) -> datetime:
        """The key's TAT, or `default`."""
        assert self.redis is not None, "used before serving"
        value = await self.redis.get(key)
        return default if value is None else datetime.fromtimestamp(float(value), UTC)

    async def set(self, key: str, tat: datetime) -> None:
        """Keep the key's TAT until it passes."""
        assert self.redis is not None, "used before serving"
        await self.redis.set(key, f"{tat.timestamp():.6f}", pxat=math.ceil(tat.timestamp() * 1000))

    async def admit(self, keyed: Keyed) -> Admission:
        """Run ADMIT: one round trip."""
        intervals = [
            value for _, limit in keyed for value in (limit.inverse, limit.period.total_seconds() - limit.inverse)
        ]
        keys = [key for key, _ in keyed]
        answer = await self.script(keys=keys, args=intervals)
        if not isinstance(answer, list):
            return float(answer)
        return {key: datetime.fromtimestamp(float(tat), UTC) for key, tat in zip(keys, answer, strict=True)}

    async def after_serving(self) -> None:
        """Close the connections."""
        if self.redis is not None:
            await self.redis.aclose()


class StoreGuard(RateLimiterStoreABC):
    """A store whose failures (Redis down or slow) let the request through ("open") or answer 503 ("closed");
    each is counted, logged at most once per LOG_INTERVAL, and the store is not asked again in that request."""

    def __init__(self, store: Store, on_error: str) -> None:
        self.store, self.closed = store, on_error == "closed"
        self.logged_at = -math.inf

    async def get(self, key: str, default: datetime) -> datetime:
        """The key's TAT: as this request set it, else the store's, or `default` (also when it fails, if open)."""
        if key in g.get(TATS, {}):
            return g.get(TATS)[key]  # type: ignore[no-any-return]  # what admit keeps there
        if not g.get(FAILED):
            try:
                return await self.store.get(key, default)
            except (RedisError, OSError) as error:
                self._failed(error)
        return default

    async def set(self, key: str, tat: datetime) -> None:
        """Keep the key's TAT, if the store answers."""
        if not g.get(FAILED):
            try:
                await self.store.set(key, tat)
            except (RedisError, OSError) as error:
                self._failed(error)

    async def admit(self, keyed: Keyed) -> float | None:
        """None if the request is allowed (also when the store fails, if open), else the seconds to wait.
        The new TATs are kept on `g`: the RateLimit headers need no second round trip."""
        try:
            answer = await self.store.admit(keyed)
        except (RedisError, OSError) as error:
            self._failed(error)
            return None
        if isinstance(answer, dict):
            g.setdefault(TATS, answer)
            return None
        return answer

    def _failed(self, error: Exception) -> None:
        g.setdefault(FAILED, True)
        metrics.RATE_LIMIT_STORE_ERRORS.labels(type(error).__name__).inc()
        if time.monotonic() - self.logged_at >= LOG_INTERVAL:
            self.logged_at = time.monotonic()
            action = "answering 503" if self.closed else "letting requests through unlimited"
            logger.error("Rate limit store failed (%s: %s): %s", type(error).__name__, error, action)
        if self.closed:
            detail = "The rate limit store does not answer; the request was not handled."
            raise ServiceUnavailable(detail, retry_after=RETRY_SECONDS)

    async def before_serving(self) -> None:
        """Open the store."""
        await self.store.before_serving()

    async def after_serving(self) -> None:
        """Close the store."""
        await self.store.after_serving()
