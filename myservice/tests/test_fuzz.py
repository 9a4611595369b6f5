"""Fuzzing: schemathesis generates requests from the service's own OpenAPI document and checks the answers.

Requests go through the ASGI transport (no network, no server), on a SQLite database of the test's
own, migrated to the latest revision: what the fuzzer creates stays out of the other tests' database.
The services the routes call (those settings.yml names) are down: a port of 127.0.0.1 where nothing
listens, so a route that calls one answers its documented 502 at once.
Every operation of the service,
plus the validated test-only routes of contract.py, gets valid and invalid input; no answer may be
a 5xx, and every answer must match the status, content type and schema that the document gives.
A short pass runs with the fast tests, so a broken contract shows before CI; the long one is slow.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from myservice.openapi import BEARER
from myservice.settings import load_settings

from .contract import create_contract_app
from .downstream import NAME as DOWNSTREAM
from .helpers import REPO, free_port, migrate
from .tokens import ISSUER

if TYPE_CHECKING:
    from schemathesis import Case, Response
    from schemathesis.auths import AuthStorage
    from schemathesis.specs.openapi.schemas import OpenApiSchema

SHORT, LONG = 3, 25  # examples per operation and mode


@pytest.fixture(autouse=True)
def _hypothesis_cache() -> Iterator[None]:
    """Hypothesis's caches in the user's cache folder, never in the repository."""
    from hypothesis.configuration import set_hypothesis_home_dir

    # Its Unicode tables take seconds to compute: keep them across runs. Its default folder is
    # ./.hypothesis of wherever it was first imported, which is the repository if anything imports
    # it at collection. (No example database: the tests pass database=None.)
    set_hypothesis_home_dir(Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "hypothesis")
    yield
    set_hypothesis_home_dir(None)


@pytest.mark.parametrize("max_examples", [SHORT, pytest.param(LONG, marks=pytest.mark.slow)], ids=["short", "long"])
@pytest.mark.parametrize("mode_name", ["positive", "negative"])
def test_api_contract(mode_name: str, max_examples: int, tmp_path: Path) -> None:
    # Imported here: importing schemathesis takes seconds, and only this test needs it.
    import schemathesis
    from schemathesis.python.asgi import shutdown_lifespans

    url = f"sqlite:///{tmp_path}/fuzz.sqlite"
    migrate(url)
    app = create_contract_app({"LOG_LEVEL": "WARNING", "DATABASE_URL": url, "SERVICES": unreachable_services()})
    try:
        fuzz(schemathesis.openapi.from_asgi("/openapi.json", app), mode_name, max_examples)
    finally:
        shutdown_lifespans()  # the app's after_serving: its database connections are closed


def unreachable_services() -> dict[str, object]:
    """Every service of settings.yml (and the contract routes' own) at a port where nothing listens, not retried."""
    named = load_settings(REPO / "settings.yml", environ={})["SERVICES"] if (REPO / "settings.yml").exists() else {}
    url = f"http://127.0.0.1:{free_port()}"
    return {name: {"url": url, "retries": 0} for name in [*named, DOWNSTREAM]}  # type: ignore[misc]  # a mapping


def not_a_server_error_but_a_service_down(ctx: object, response: Response, case: Case[Any]) -> None:
    """schemathesis' not_a_server_error, except that a 502 or 504 problem naming a service (down while fuzzing)
    is what a route that calls one documents."""
    down = response.status_code in (502, 504) and "service" in response.json()
    if response.status_code >= 500 and not down:
        raise AssertionError(f"{case.operation.label} answered {response.status_code}")


def authenticated(schema: OpenApiSchema) -> AuthStorage[str]:
    """Auth for the fuzzer: a token of the test issuer granting every scope the document names. schemathesis
    sets it on every case but a negative one whose Authorization header is what it made invalid (a 401)."""
    from schemathesis.auths import AuthStorage

    scopes = {
        scope
        for operations in schema.raw_schema["paths"].values()
        for operation in operations.values()
        for requirement in operation.get("security", [])
        for scope in requirement.get(BEARER, [])
    }
    storage: AuthStorage[str] = AuthStorage()

    @storage.auth()
    class Token:
        def get(self, case: Case[Any], ctx: object) -> str:
            return ISSUER.token(*sorted(scopes))

        def set(self, case: Case[Any], data: str, ctx: object) -> None:
            case.headers["Authorization"] = f"Bearer {data}"

    return storage


def fuzz(schema: OpenApiSchema, mode_name: str, max_examples: int) -> None:
    """Call every operation of `schema` with `max_examples` cases of the mode, and validate each answer."""
    from hypothesis import given, settings
    from schemathesis import GenerationMode
    from schemathesis.checks import not_a_server_error
    from schemathesis.core.result import Ok

    mode = GenerationMode(mode_name)
    storage = authenticated(schema)
    calls: list[str] = []
    fuzzed: set[str] = set()
    for result in schema.get_all_operations():
        assert isinstance(result, Ok), result
        operation = result.ok()
        inputs = [operation.path_parameters, operation.query, operation.headers, operation.body]
        if mode == GenerationMode.NEGATIVE and not any(inputs):
            continue  # nothing to make invalid
        fuzzed.add(operation.label)

        # database=None: no example database; derandomize: the same cases on every run.
        @given(case=operation.as_strategy(mode, auth_storage=storage))
        @settings(max_examples=max_examples, deadline=None, database=None, derandomize=True)
        def check(case: Case[Any]) -> None:
            calls.append(case.operation.label)
            case.call_and_validate(
                excluded_checks=[not_a_server_error], additional_checks=[not_a_server_error_but_a_service_down]
            )

        check()
    assert set(calls) == fuzzed
    contract = {
        "GET /contract/caller",
        "POST /contract/orders",
        "GET /contract/greeting",
        "GET /contract/orders/{order_id}",
    }
    assert contract | {"GET /contract/stock/{item_id}"} <= fuzzed


async def test_every_operation_with_security_refuses_a_call_without_a_token() -> None:
    """Each operation the document says needs a token answers 401 without one, whatever else is sent."""
    app = create_contract_app({"TESTING": True})
    async with app.test_app():
        client = app.test_client()
        document = await (await client.get("/openapi.json")).get_json()
        secured = [
            (method.upper(), re.sub(r"{[^}]+}", "1", path))
            for path, operations in document["paths"].items()
            for method, operation in operations.items()
            if operation.get("security")
        ]
        assert ("GET", "/contract/caller") in secured
        for method, path in secured:
            response = await getattr(client, method.lower())(path)
            assert (method, path, response.status_code, response.headers["WWW-Authenticate"]) == (
                method,
                path,
                401,
                "Bearer",
            )
