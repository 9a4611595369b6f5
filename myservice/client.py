"""Calls to other services: one HTTP client per process, a deadline on every call, safe retries, ids passed on.

    from myservice.client import service

    response = await service("downstream").get(f"/items/{item_id}")

`service(name)` is bound to the base URL that the SERVICES setting gives `name`. A call is retried,
after a full-jitter backoff or the wait its answer's Retry-After asks for, when that is safe (an
idempotent method, or an Idempotency-Key) and may help (no connection, a timeout, 502, 503, 504),
and never past its deadline: the service's `timeout`, or less if the caller's X-Request-Timeout
says so. Any other answer below 500 is the view's to read; a timeout raises DownstreamTimeoutError
(a 504 problem), anything else DownstreamUnavailableError (a 502 problem), each naming the service
and nothing of its URL. See docs/services.md.
"""

from __future__ import annotations

import asyncio
import email.utils
import importlib
import logging
import math
import random
import re
import time
from collections.abc import Mapping
from dataclasses import dataclass
from http import HTTPStatus
from typing import TypedDict, Unpack

import httpx
import stamina
from quart import Quart, Response, current_app, has_request_context, request
from werkzeug.exceptions import BadRequest

from myservice import client_auth, metrics, server
from myservice.errors import problem
from myservice.middleware import ARRIVED
from myservice.request_id import choose, current_request_id
from myservice.routing import METHODS
from myservice.settings import SERVICE, Records, Scalar

logger = logging.getLogger(__name__)
KEY = "client"  # in app.extensions
# The seconds the caller will wait, counted from the request's arrival; relative, so no clock skew.
# Read only when the view calls out, and sent on every call with what is left of it.
DEADLINE_HEADER = "X-Request-Timeout"
DEADLINE_TEXT = re.compile(r"[0-9]{1,6}(\.[0-9]{1,6})?")
BAD_DEADLINE = f"The {DEADLINE_HEADER} header must be the seconds the caller waits, a number above 0 such as 2.5."
IDEMPOTENT = frozenset({"GET", "HEAD", "PUT", "DELETE", "OPTIONS"})  # RFC 9110 9.2.2; POST, PATCH need a key
RETRY_STATUSES = frozenset({502, 503, 504})
RETRY_ERRORS = (httpx.TimeoutException, httpx.NetworkError, httpx.RemoteProtocolError)
FIRST_BACKOFF, MAX_BACKOFF = 0.1, 2.0  # seconds: retry n waits a random time up to FIRST x 2**(n-1), capped
# Below the time after which this template's servers, the others of the fleet, close an idle connection:
# a request is never sent on a connection the other side is closing (a POST could not be retried).
KEEP_ALIVE_SECONDS = server.KEEP_ALIVE_SECONDS - 1
STATUSES = frozenset(str(status.value) for status in HTTPStatus)  # the status label's values, and "other"


class DownstreamError(Exception):
    """A call to another service failed; answered as a problem naming the service."""

    status = 502

    def __init__(self, service: str, detail: str) -> None:
        super().__init__(detail)
        self.service = service


class DownstreamTimeoutError(DownstreamError):
    """The service did not answer within the deadline: 504."""

    status = 504


class DownstreamUnavailableError(DownstreamError):
    """The service could not be reached, answered 5xx (after any retries), or not in HTTP: 502."""


class UnknownServiceError(LookupError):
    """A name that the SERVICES setting does not have."""


class Options(TypedDict, total=False):
    """What a call may send besides its method and path."""

    params: Mapping[str, str | int | float]
    headers: Mapping[str, str]
    json: object
    content: bytes | str


@dataclass(frozen=True)
class Services:
    """The process's client and each service of the SERVICES setting, bound to it."""

    client: httpx.AsyncClient
    services: dict[str, Service]


def init_app(app: Quart) -> None:
    """Open the client before serving if SERVICES names any service, close it after; answer failures."""

    @app.before_serving
    async def open_client() -> None:
        if app.config["SERVICES"]:
            app.extensions[KEY] = open_services(app.config["SERVICES"])

    @app.after_serving
    async def close_client() -> None:
        if KEY in app.extensions:
            await app.extensions.pop(KEY).client.aclose()

    for name, record in app.config["SERVICES"].items():
        client_auth.check_credentials(name, record)
    app.register_error_handler(DownstreamError, handle_downstream_error)


def open_services(settings: Records) -> Services:
    """The process's client (an HTTP/1.1 keep-alive pool) and the services, bound to it."""
    version = importlib.import_module(SERVICE).__version__
    client = httpx.AsyncClient(
        headers={"User-Agent": f"{SERVICE}/{version}"},
        limits=httpx.Limits(keepalive_expiry=KEEP_ALIVE_SECONDS),
        trust_env=False,  # straight to the URL in SERVICES: no proxy variables, no .netrc credentials
    )
    return Services(client, {name: Service(client, name, record) for name, record in settings.items()})


def service(name: str) -> Service:
    """The service `name` of the SERVICES setting, bound to its URL."""
    opened: Services | None = current_app.extensions.get(KEY)
    if opened is None or name not in opened.services:
        known = ", ".join(sorted(current_app.config["SERVICES"])) or "none"
        raise UnknownServiceError(f"no service {name!r} is open (they open before serving); SERVICES names {known}")
    return opened.services[name]


async def handle_downstream_error(error: DownstreamError) -> Response:
    """A failed call as a problem naming the service; its URL and what failed are in the log."""
    return problem(error.status, str(error), service=error.service)


class Service:
    """Another service: its base URL, timeouts and retries, and the process's client."""

    def __init__(self, client: httpx.AsyncClient, name: str, record: Mapping[str, Scalar]) -> None:
        self.client, self.name = client, name
        self.base = str(record["url"]).rstrip("/") + "/"
        connect, read = float(record["connect_timeout"]), float(record["read_timeout"])
        self.timeouts = httpx.Timeout(connect=connect, read=read, write=read, pool=connect)
        self.timeout, self.retries = float(record["timeout"]), int(record["retries"])
        self.token = str(record["token"])
        self.credentials = client_auth.ClientCredentials(client, record, self.timeouts) if record["token_url"] else None

    async def get(self, path: str, **options: Unpack[Options]) -> httpx.Response:
        """GET `path`, below the base URL."""
        return await self.request("GET", path, **options)

    async def post(self, path: str, **options: Unpack[Options]) -> httpx.Response:
        """POST to `path`: retried only with an Idempotency-Key header."""
        return await self.request("POST", path, **options)

    async def put(self, path: str, **options: Unpack[Options]) -> httpx.Response:
        """PUT `path`."""
        return await self.request("PUT", path, **options)

    async def patch(self, path: str, **options: Unpack[Options]) -> httpx.Response:
        """PATCH `path`: retried only with an Idempotency-Key header."""
        return await self.request("PATCH", path, **options)

    async def delete(self, path: str, **options: Unpack[Options]) -> httpx.Response:
        """DELETE `path`."""
        return await self.request("DELETE", path, **options)

    async def request(self, method: str, path: str, **options: Unpack[Options]) -> httpx.Response:
        """Send `method` `path` (appended to the base URL, which it cannot leave) within the call's deadline."""
        budget = min(self.timeout, caller_budget())
        headers = httpx.Headers({"X-Request-ID": current_request_id() or choose(())})
        headers.update(options.get("headers", {}))  # the view's own, in any case, win
        ours = "Authorization" not in headers and (self.token or self.credentials is not None)
        if ours:
            headers["Authorization"] = await self.authorization()
        outgoing = self.client.build_request(
            method,
            self.base + path.lstrip("/"),
            params=options.get("params"),
            headers=headers,
            json=options.get("json"),
            content=options.get("content"),
            timeout=self.timeouts,
        )
        response = await Call(self, outgoing, budget).run()
        if response.status_code == 401 and ours and self.credentials is not None:  # revoked, or the keys rotated
            self.credentials.forget()
            outgoing.headers["Authorization"] = await self.authorization()
            response = await Call(self, outgoing, min(self.timeout, caller_budget())).run()
        return response

    async def authorization(self) -> str:
        """The Authorization header for this service: its static token, or a client-credentials one."""
        if self.credentials is None:
            return f"Bearer {self.token}"
        try:
            return await self.credentials.header()
        except client_auth.TokenError as error:
            logger.warning("no token for %s from its token_url: %s", self.name, error)
            detail = f"The {self.name} service's token could not be obtained."
            raise DownstreamUnavailableError(self.name, detail) from error


def caller_budget() -> float:
    """The seconds left of the deadline that the request being handled carries in X-Request-Timeout, if any."""
    if not has_request_context() or (text := request.headers.get(DEADLINE_HEADER)) is None:
        return math.inf
    if not DEADLINE_TEXT.fullmatch(text) or float(text) == 0:
        raise BadRequest(BAD_DEADLINE)
    arrived: float = request.scope.get(ARRIVED, time.perf_counter())  # type: ignore[assignment]  # ours
    return float(text) - (time.perf_counter() - arrived)


class Call:
    """One call: its attempts and the waits between them within its deadline, each counted and logged."""

    def __init__(self, service: Service, outgoing: httpx.Request, budget: float) -> None:
        self.service, self.request = service, outgoing
        self.method = outgoing.method if outgoing.method in METHODS else "other"
        safe = outgoing.method in IDEMPOTENT or "Idempotency-Key" in outgoing.headers
        self.attempts, self.most = 0, service.retries + 1 if safe else 1
        self.started = asyncio.get_running_loop().time()
        self.deadline = self.started + budget
        self.timeout: asyncio.Timeout | None = None

    async def run(self) -> httpx.Response:
        """The answer (below 500), after as many attempts as it takes and the deadline allows."""
        try:
            if self.deadline <= self.started:  # the caller's deadline has passed: do not call at all
                raise TimeoutError
            async with asyncio.timeout_at(self.deadline) as self.timeout:
                return await stamina.AsyncRetryingCaller(attempts=self.most, timeout=None)(self.backoff, self.attempt)
        except (TimeoutError, httpx.HTTPError, ServerError) as error:
            raise self.failed(error) from error

    async def attempt(self) -> httpx.Response:
        """Send the request once, with what is left of the deadline; a 5xx answer raises ServerError."""
        self.attempts += 1
        left = self.deadline - asyncio.get_running_loop().time()
        self.request.headers[DEADLINE_HEADER] = f"{max(left, 0.001):.3f}"
        started, outcome = time.perf_counter(), "error"
        try:
            response = await self.service.client.send(self.request)
            outcome = str(response.status_code) if str(response.status_code) in STATUSES else "other"
        except httpx.TimeoutException:
            outcome = "timeout"
            raise
        except asyncio.CancelledError:  # by the call's deadline, or because the request calling went away
            outcome = "timeout" if self.timeout is not None and self.timeout.expired() else "cancelled"
            raise
        finally:
            seconds = time.perf_counter() - started
            metrics.observe_call(self.service.name, self.method, outcome, seconds)
            logger.debug("%s %s %s attempt %d: %s in %.1f ms", self.method, self.service.name, self.request.url.path,
                         self.attempts, outcome, seconds * 1000)  # fmt: skip
        if response.status_code >= 500:
            raise ServerError(response)
        return response

    def backoff(self, error: Exception) -> bool | float:
        """stamina's `on`: the seconds to wait before the next attempt, or False to give up now."""
        retryable = isinstance(error, RETRY_ERRORS) or (
            isinstance(error, ServerError) and error.response.status_code in RETRY_STATUSES
        )
        if not retryable or self.attempts >= self.most:
            return False
        wait = retry_after(error)
        if wait is None:  # full jitter: retries spread evenly, so callers that failed together do not return together
            wait = random.uniform(0, min(MAX_BACKOFF, FIRST_BACKOFF * 2 ** (self.attempts - 1)))
        if asyncio.get_running_loop().time() + wait >= self.deadline:
            return False  # no time left for another attempt: fail now, not at the deadline
        metrics.CLIENT_RETRIES.labels(self.service.name, self.method).inc()
        return wait

    def failed(self, error: BaseException) -> DownstreamError:
        """The error for the view (a problem if it lets it go), with the details logged."""
        name, seconds = self.service.name, asyncio.get_running_loop().time() - self.started
        why = f"answered {error.response.status_code}" if isinstance(error, ServerError) else repr(error)
        url = self.request.url.copy_with(query=None)
        logger.warning("%s %s failed after %d attempts in %.3f s: %s", self.method, url, self.attempts, seconds, why)
        if isinstance(error, TimeoutError | httpx.TimeoutException):
            return DownstreamTimeoutError(name, f"The {name} service did not answer in time.")
        if isinstance(error, httpx.ConnectError):
            return DownstreamUnavailableError(name, f"The {name} service could not be reached.")
        return DownstreamUnavailableError(name, f"The {name} service failed to answer.")


class ServerError(Exception):
    """An answer of 500 or more, raised so that stamina sees it (and may retry)."""

    def __init__(self, response: httpx.Response) -> None:
        super().__init__(f"answered {response.status_code}")
        self.response = response


def retry_after(error: Exception) -> float | None:
    """The seconds an answer's Retry-After asks the caller to wait (a number or an HTTP date), if any."""
    text = error.response.headers.get("Retry-After", "").strip() if isinstance(error, ServerError) else ""
    if re.fullmatch(r"[0-9]{1,9}", text):
        return float(text)
    try:
        when = email.utils.parsedate_to_datetime(text)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())
