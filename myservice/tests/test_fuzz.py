"""Fuzzing: schemathesis generates requests from the service's own OpenAPI document and checks the answers.

Requests go through the ASGI transport (no network, no server). Every operation of the service,
plus the validated test-only routes of contract.py, gets valid and invalid input; no answer may be
a 5xx, and every answer must match the status, content type and schema that the document gives.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest
from hypothesis import given, settings

from .contract import create_contract_app

if TYPE_CHECKING:
    from schemathesis import Case

MAX_EXAMPLES = 25
pytestmark = pytest.mark.slow  # a few seconds: runs in CI and with `make test SLOW=1`


@pytest.mark.parametrize("mode_name", ["positive", "negative"])
def test_api_contract(mode_name: str) -> None:
    # Imported here: importing schemathesis takes seconds, and the fast suite collects this module
    # even though it deselects this test.
    import schemathesis
    from schemathesis import GenerationMode
    from schemathesis.core.result import Ok

    mode = GenerationMode(mode_name)
    schema = schemathesis.openapi.from_asgi("/openapi.json", create_contract_app({"LOG_LEVEL": "WARNING"}))
    calls: list[str] = []
    fuzzed: set[str] = set()
    for result in schema.get_all_operations():
        assert isinstance(result, Ok), result
        operation = result.ok()
        inputs = [operation.path_parameters, operation.query, operation.headers, operation.body]
        if mode == GenerationMode.NEGATIVE and not any(inputs):
            continue  # nothing to make invalid
        fuzzed.add(operation.label)

        # database=None: no .hypothesis folder left behind; derandomize: the same cases on every run.
        @given(case=operation.as_strategy(mode))
        @settings(max_examples=MAX_EXAMPLES, deadline=None, database=None, derandomize=True)
        def check(case: Case[Any]) -> None:
            calls.append(case.operation.label)
            case.call_and_validate()

        check()
    assert set(calls) == fuzzed
    assert {"POST /contract/orders", "GET /contract/greeting"} <= fuzzed
