"""The API contract: the OpenAPI document and request/response validation (the docs page: test_docs_page)."""

from __future__ import annotations

import dataclasses
import inspect
import re
from collections.abc import AsyncIterator
from dataclasses import asdict
from datetime import UTC, datetime
from importlib.metadata import version
from typing import Any, cast

import pytest
import quart_schema.extension
from openapi_schema_validator import OAS31Validator
from openapi_spec_validator import validate
from pydantic import BaseModel
from pydantic.dataclasses import dataclass as pydantic_dataclass
from quart import Blueprint, Quart, Response
from quart.typing import RouteCallable
from quart.typing import TestClientProtocol as Client
from quart_schema import QuartSchema, ResponseSchemaValidationError
from quart_schema.extension import wrap_make_response

import myservice
from myservice import create_app, limits
from myservice.api import field_errors, quart_make_response
from myservice.openapi import no_content_response, problem_response
from myservice.readiness import add_readiness_check

from .contract import create_contract_app
from .helpers import assert_problem
from .tokens import open_to_anyone

DOCS_ENDPOINTS = {"openapi", "swagger_ui", "swagger_ui_static"}  # the document and the page (test_docs_page)
PROBLEM = {"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}}
ORDER = {"item": "tea", "quantity": 2, "address": {"street": "1 Main St", "city": "Leeds"}}


def undocumented(app: Quart, document: dict[str, Any]) -> list[str]:
    """Each route and method of `app` missing from `document`, or there without a summary, tags or a 2xx response."""
    missing = []
    for rule in app.url_map.iter_rules():
        if rule.endpoint in DOCS_ENDPOINTS:
            continue
        path = re.sub(r"<(?:[^:<>]*:)?([^<>]+)>", r"{\1}", rule.rule)
        for method in sorted((rule.methods or set()) - {"HEAD", "OPTIONS"}):
            operation = document["paths"].get(path, {}).get(method.lower(), {})
            lacking = [key for key in ("summary", "tags") if not operation.get(key)]
            # Problem answers alone (the 404 of a path parameter, the 400 of validated input) say nothing of success.
            if not any(str(status).startswith("2") for status in operation.get("responses", {})):
                lacking.append("2xx response")
            if lacking:
                missing.append(f"{method} {rule.rule} ({rule.endpoint}) has no {', '.join(lacking)}")
    return missing


async def openapi_document(app: Quart) -> dict[str, Any]:
    """The document that `app` serves."""
    response = await app.test_client().get("/openapi.json")
    assert (response.status_code, response.content_type) == (200, "application/json")
    document: dict[str, Any] = await response.get_json()
    return document


def check_against(document: dict[str, Any], content: dict[str, Any], body: object) -> None:
    """Validate `body` against the schema of a response's `content`, its refs resolved in `document`."""
    [media] = content.values()
    OAS31Validator({**media["schema"], "components": document["components"]}).validate(body)


async def documented_responses(*handlers: RouteCallable) -> dict[str, dict[str, Any]]:
    """The documented responses of each handler, served at GET /<handler name>/<int:order_id>, by handler name."""
    blueprint = Blueprint("probed", __name__)
    for handler in handlers:
        blueprint.get(f"/{handler.__name__}/<int:order_id>")(handler)
    app = open_to_anyone(create_app(blueprints=[blueprint]), blueprint)
    async with app.test_app():
        paths = (await openapi_document(app))["paths"]
    return {handler.__name__: paths[f"/{handler.__name__}/{{order_id}}"]["get"]["responses"] for handler in handlers}


@pytest.fixture(name="contract_client")
async def _contract_client() -> AsyncIterator[Client]:
    """A client of the service plus the validated test-only routes (contract.py); bodies up to 256 bytes."""
    app = create_contract_app({"TESTING": True, "MAX_CONTENT_LENGTH": 256})
    async with app.test_app():
        yield app.test_client()


async def test_openapi_document_is_valid_openapi_3(app: Quart) -> None:
    document = await openapi_document(app)
    validate(document)
    assert document["openapi"] == "3.1.0"
    description = "myservice: a Quart microservice. `create_app()` builds it; importing reads nothing."
    assert document["info"] == {"title": "myservice", "version": myservice.__version__, "description": description}


async def test_every_route_is_documented(app: Quart) -> None:
    assert undocumented(app, await openapi_document(app)) == []


async def test_an_undocumented_route_is_named() -> None:
    bare = Blueprint("bare", __name__)

    @bare.get("/bare/<int:number>")
    async def get_bare(number: int) -> dict[str, int]:
        return {"number": number}

    app = create_app(blueprints=[bare])
    async with app.test_app():
        missing = undocumented(app, await openapi_document(app))
    assert missing == ["GET /bare/<int:number> (bare.get_bare) has no summary, 2xx response"]


async def test_operations_are_named_summarised_and_tagged(app: Quart) -> None:
    paths = (await openapi_document(app))["paths"]
    healthz = paths["/healthz"]["get"]
    assert (healthz["operationId"], healthz["summary"], healthz["tags"]) == (
        "get_healthz",
        "Liveness: the process serves requests.",
        ["health"],
    )
    assert set(paths["/readyz"]["get"]["responses"]) == {"200", "503"}
    metrics = paths["/metrics"]["get"]["responses"]["200"]
    assert metrics["content"] == {"text/plain": {"schema": {"type": "string"}}}


async def test_validated_input_documents_its_problems() -> None:
    app = create_contract_app()
    async with app.test_app():
        paths = (await openapi_document(app))["paths"]
    order, greeting = paths["/contract/orders"]["post"], paths["/contract/greeting"]["get"]
    assert set(order["responses"]) == {"200", "400", "413", "415", "429"}
    assert set(greeting["responses"]) == {"200", "400", "429"}
    assert order["responses"]["400"]["content"] == PROBLEM
    assert greeting["parameters"] == [
        {
            "name": "x-caller",
            "in": "header",
            "required": True,
            "schema": {"minLength": 1, "title": "X Caller", "type": "string"},
        }
    ]


async def test_problem_response_documents_problem_json(contract_client: Client) -> None:
    """`problem_response` documents the route's 404 as problem+json, and the real 404 matches that schema."""
    document = await openapi_document(create_contract_app())
    validate(document)
    operation = document["paths"]["/contract/orders/{order_id}"]["get"]
    assert set(operation["responses"]) == {"200", "404", "429"}
    not_found = operation["responses"]["404"]
    assert (not_found["description"], not_found["content"]) == ("No order has this id.", PROBLEM)
    assert document["components"]["schemas"]["Problem"]["required"] == [
        "type",
        "title",
        "status",
        "detail",
        "request_id",
    ]
    response = await contract_client.get("/contract/orders/7")
    body = await assert_problem(response, 404, "There is no order 7.")
    check_against(document, not_found["content"], body)


async def test_problem_response_describes_by_http_phrase_or_description() -> None:
    """Statuses without a description get their HTTP phrase; stacked decorators add up; the path's 404 is kept."""

    @problem_response(409, 503)
    @problem_response(410, description="The order is archived.")
    async def get_archived(order_id: int) -> dict[str, int]:
        """Get an archived order."""
        return {"id": order_id}

    async def get_plain(order_id: int) -> dict[str, int]:
        """Get an order."""
        return {"id": order_id}

    responses = await documented_responses(get_archived, get_plain)
    described = {
        status: (answer["description"], answer["content"]) for status, answer in responses["get_archived"].items()
    }
    assert described == {
        "404": ("Nothing is at this path: a path parameter is not of its type.", PROBLEM),
        "409": ("Conflict", PROBLEM),
        "410": ("The order is archived.", PROBLEM),
        "503": ("Service Unavailable", PROBLEM),
        "429": (limits.TOO_MANY, PROBLEM),
    }
    assert list(responses["get_plain"]) == ["404", "429"]


async def test_no_content_response_documents_a_204_without_a_body() -> None:
    """`no_content_response` documents the route's success as a 204 with no content; its problems stay."""

    @no_content_response("The order is deleted.")
    @problem_response(404, description="No order has this id.")
    async def get_deleted(order_id: int) -> tuple[str, int]:
        """Delete an order."""
        return "", 204

    responses = (await documented_responses(get_deleted))["get_deleted"]
    assert responses["204"] == {"description": "The order is deleted."}
    assert (set(responses), responses["404"]["content"]) == ({"204", "404", "429"}, PROBLEM)


@pytest.mark.parametrize("status", [200, 302, 600])
def test_problem_response_refuses_a_status_that_is_not_an_error(status: int) -> None:
    with pytest.raises(ValueError, match=rf"problem_response: \[{status}\] are not error statuses \(4xx or 5xx\)"):
        problem_response(404, status)


async def test_path_parameters_are_bounded_as_their_converters() -> None:
    """`<int:id>` takes no negative number, so the fuzzer's valid ids reach the handler instead of the router's 404."""
    bounded = Blueprint("bounded", __name__)

    @bounded.get("/<int:a>/<int(signed=True):b>/<int(min=1, max=9):c>/<float:d>/<e>")
    async def get_bounded(a: int, b: int, c: int, d: float, e: str) -> dict[str, int]:
        """Get nothing."""
        return {}

    app = create_app(blueprints=[bounded])
    async with app.test_app():
        parameters = (await openapi_document(app))["paths"]["/{a}/{b}/{c}/{d}/{e}"]["get"]["parameters"]
    assert [(item["name"], item["schema"]) for item in parameters] == [
        ("a", {"type": "integer", "minimum": 0}),
        ("b", {"type": "integer"}),
        ("c", {"type": "integer", "minimum": 1, "maximum": 9}),
        ("d", {"type": "number", "minimum": 0}),
        ("e", {"type": "string"}),
    ]


async def test_valid_order(contract_client: Client) -> None:
    response = await contract_client.post("/contract/orders", json=ORDER, query_string={"dry_run": "true"})
    assert (response.status_code, response.content_type) == (200, "application/json")
    assert await response.get_json() == {"item": "tea", "quantity": 2, "city": "Leeds", "dry_run": True}


@pytest.mark.parametrize(
    ("body", "query", "errors"),
    [
        ({"quantity": 2, "address": ORDER["address"]}, {}, [(["body", "item"], "missing", "Field required")]),
        (ORDER | {"quantity": "2"}, {}, [(["body", "quantity"], "int_type", "Input should be a valid integer")]),
        (
            ORDER | {"item": "", "quantity": False},
            {},
            [
                (["body", "item"], "string_too_short", "String should have at least 1 character"),
                (["body", "quantity"], "int_type", "Input should be a valid integer"),
            ],
        ),
        (ORDER | {"quantity": 0}, {}, [(["body", "quantity"], "greater_than_equal", "greater than or equal to 1")]),
        (
            ORDER | {"item": {"name": "tea"}, "address": {"street": ["1"], "city": "Leeds"}},
            {},
            [
                (["body", "item"], "string_type", "Input should be a valid string"),
                (["body", "address", "street"], "string_type", "Input should be a valid string"),
            ],
        ),
        ([ORDER], {}, [(["body"], "dataclass_type", "Input should be a dictionary or an instance of Order")]),
        (ORDER, {"dry_run": "perhaps"}, [(["query", "dry_run"], "bool_parsing", "Input should be a valid boolean")]),
    ],
    ids=[
        "missing-field",
        "wrong-type",
        "empty-and-false",
        "out-of-range",
        "extra-nesting",
        "not-an-object",
        "bad-query",
    ],
)
async def test_invalid_order(
    contract_client: Client, body: object, query: dict[str, str], errors: list[tuple[list[object], str, str]]
) -> None:
    response = await contract_client.post("/contract/orders", json=body, query_string=query)
    problem = await assert_problem(response, 400, "The request fails validation: ")
    found = cast(list[dict[str, Any]], problem["errors"])
    assert [(item["loc"], item["type"]) for item in found] == [(loc, kind) for loc, kind, _ in errors]
    assert all(msg in item["msg"] for item, (_, _, msg) in zip(found, errors, strict=True))
    assert problem["detail"] == "The request fails validation: " + ", ".join(".".join(map(str, e[0])) for e in errors)


@pytest.mark.parametrize(
    ("data", "content_type", "status", "detail"),
    [
        (b"{'item': 'tea'}", "application/json", 400, "The request body is not valid JSON: "),
        (b"", "application/json", 400, "The request body is not valid JSON: Expecting value"),
        (
            b"item=tea&quantity=2",
            "application/x-www-form-urlencoded",
            415,
            "it was sent as 'application/x-www-form-urlencoded'",
        ),
        (b"", None, 415, "must be JSON (Content-Type: application/json); it was sent without a Content-Type."),
        (b'{"item": "' + b"t" * 300 + b'"}', "application/json", 413, "exceeds the capacity limit"),
    ],
    ids=["not-json", "empty-json", "wrong-content-type", "empty-no-content-type", "too-large"],
)
async def test_unusable_body(
    contract_client: Client, data: bytes, content_type: str | None, status: int, detail: str
) -> None:
    headers = {"Content-Type": content_type} if content_type else {}
    response = await contract_client.post("/contract/orders", data=data, headers=headers)
    await assert_problem(response, status, detail)


async def test_invalid_header(contract_client: Client) -> None:
    missing = await contract_client.get("/contract/greeting")
    problem = await assert_problem(missing, 400, "The request fails validation: header.x-caller")
    assert problem["errors"] == [{"loc": ["header", "x-caller"], "msg": "Field required", "type": "missing"}]
    valid = await contract_client.get("/contract/greeting", headers={"X-Caller": "ops"})
    assert (valid.status_code, await valid.get_json()) == (200, {"text": "hello, ops"})


async def test_wrong_response_shape_is_a_logged_500(probe_client: Client, caplog: pytest.LogCaptureFixture) -> None:
    response = await probe_client.get("/probes/wrong-shape")
    await assert_problem(response, 500, "logged under its request id")
    [record] = [record for record in caplog.records if record.name == "myservice.errors"]
    assert record.exc_info
    error = record.exc_info[1]
    assert isinstance(error, ResponseSchemaValidationError)
    assert "count\n  Input should be a valid integer" in str(error.validation_error)


def test_error_that_is_not_pydantics_names_the_part() -> None:
    # quart-schema builds a plain dataclass of headers by calling it: a missing one is a TypeError.
    found = field_errors("header", TypeError("Caller.__init__() missing 1 required positional argument: 'x_caller'"))
    assert [asdict(item) for item in found] == [
        {
            "loc": ["header"],
            "msg": "Caller.__init__() missing 1 required positional argument: 'x_caller'",
            "type": "TypeError",
        }
    ]


@pydantic_dataclass
class Nested:
    """A nested model, as responses have them."""

    name: str
    when: datetime
    tags: list[str]


@pydantic_dataclass
class Outer:
    """A model holding another."""

    nested: Nested
    count: int | None = None


@dataclasses.dataclass
class Plain:
    """A stdlib dataclass, as a view may return."""

    name: str


class Pydantic(BaseModel):
    """A pydantic model, as a view may return."""

    name: str
    when: datetime


@pydantic_dataclass
class Trace:
    """A headers model: x_trace_id is sent as x-trace-id."""

    x_trace_id: str


WHEN = datetime(2026, 1, 2, tzinfo=UTC)


@pytest.mark.parametrize(
    "result",
    [
        Outer(Nested("a", WHEN, ["x"])),
        Nested("b", datetime(2026, 1, 3), []),
        Plain("c"),
        Pydantic(name="d", when=WHEN),
        (Pydantic(name="e", when=WHEN), 201, Trace("t-1")),
        (Plain("f"), Trace("t-2")),
        (Plain("g"), 202),
        {"a": [1]},
    ],
    ids=["nested-model", "model", "dataclass", "pydantic", "status-headers-model", "headers-model", "status", "dict"],
)
async def test_responses_are_byte_identical_to_quart_schemas_conversion(result: object) -> None:
    """api.dump_models answers as quart-schema's own wrapper would: status, headers, bytes."""
    app = create_app(blueprints=[])
    theirs_make_response = wrap_make_response(app.make_response.__wrapped__)  # type: ignore[attr-defined]  # Quart's
    async with app.test_request_context("/"):
        ours = cast(Response, await app.make_response(result))  # type: ignore[arg-type]  # a model, as views return
        theirs = cast(Response, await theirs_make_response(result))
    assert (ours.status_code, list(ours.headers.items())) == (theirs.status_code, list(theirs.headers.items()))
    assert await ours.get_data() == await theirs.get_data()


def test_quart_schema_still_wraps_quart_make_response_as_dump_models_expects() -> None:
    """What api.py replaces is quart-schema's wrapper: functools.wraps around the app's own make_response,
    converting with convert_response_return_value and nothing else."""
    app = Quart(__name__)
    own = app.make_response
    QuartSchema(app)
    source = inspect.getsource(wrap_make_response)
    message = f"quart-schema {version('quart-schema')} changed its make_response wrapper; review api.py"
    assert app.make_response.__wrapped__ == own, message  # type: ignore[attr-defined]  # set by functools.wraps
    assert "@wraps(func)" in source, message
    assert "return await func(convert_response_return_value(result))" in source, message
    assert quart_make_response(app) == own


def test_an_unexpected_make_response_stops_the_app(monkeypatch: pytest.MonkeyPatch) -> None:
    """If quart-schema stops wrapping make_response as 0.25.0 did, create_app says so instead of serving."""
    monkeypatch.setattr(quart_schema.extension, "wrap_make_response", lambda make_response: make_response)
    expected = r"expects quart-schema \([\d.]+ installed\) to wrap make_response as 0.25.0 does"
    with pytest.raises(RuntimeError, match=expected):
        create_app(blueprints=[])


def test_conversion_options_dump_models_ignores_stop_the_app() -> None:
    """dump_models converts as quart-schema does with its options unset; setting one is an error, not a surprise."""
    app = Quart(__name__)
    QuartSchema(app, convert_casing=True)
    with pytest.raises(RuntimeError, match="does not apply QUART_SCHEMA_CONVERT_CASING"):
        quart_make_response(app)


async def _ok() -> None:
    """A readiness check that passes."""


@pytest.mark.parametrize("debug", [False, True])
async def test_json_body_is_compact_in_the_order_written(debug: bool) -> None:
    """A view's model body: no spaces or indentation, fields and keys as written (not sorted), in debug mode too."""
    app = create_app(settings={"TESTING": True, "DEBUG": debug})
    add_readiness_check(app, "zeta", _ok)
    add_readiness_check(app, "alpha", _ok)
    async with app.test_app():
        response = await app.test_client().get("/readyz")
        body = await response.get_data()
    assert body == b'{"status":"ok","checks":{"database":"ok","zeta":"ok","alpha":"ok"}}\n'
    assert (response.status_code, response.content_type) == (200, "application/json")


async def test_validation_problem_lists_errors_after_the_request_id(contract_client: Client) -> None:
    """A 400 problem: the standard members, request_id, then errors."""
    response = await contract_client.post("/contract/orders", json={}, headers={"X-Request-ID": "raw-2"})
    body = await response.get_data(as_text=True)
    assert body.startswith('{"type":"about:blank","title":"Bad Request","status":400,"detail":"The request fails')
    assert '","request_id":"raw-2","errors":[{"loc":["body",' in body
