"""The API contract: quart-schema validates requests and responses and serves the OpenAPI document.

Each route documents itself: its handler's docstring is the summary, `validate_request`,
`validate_querystring`, `validate_headers` and `validate_response` give the schemas (see
`myservice.openapi`), and its blueprint's name is its tag.
"""

from __future__ import annotations

import importlib
from collections.abc import Awaitable, Callable
from dataclasses import asdict, is_dataclass
from functools import wraps
from importlib.metadata import version
from typing import Any, cast

from pydantic import BaseModel, TypeAdapter, ValidationError
from quart import Quart, Response
from quart.json.provider import DefaultJSONProvider, JSONProvider
from quart_schema import Info, QuartSchema, RequestSchemaValidationError, snake_to_kebab
from quart_schema.conversion import model_dump
from quart_schema.validation import QuerystringValidationError, RequestHeadersValidationError

from myservice import docs_page, errors
from myservice.openapi import BEARER, FieldError, Provider
from myservice.settings import SERVICE

MakeResponse = Callable[[Any], Awaitable[Response]]
OPENAPI_PATH = "/openapi.json"
# Which part of the request failed; RequestSchemaValidationError itself is the body's.
PARTS = ((QuerystringValidationError, "query"), (RequestHeadersValidationError, "header"))


def init_app(app: Quart) -> None:
    """Serve /openapi.json (and the docs page if API_DOCS); answer invalid requests with 400 problem+json."""
    QuartSchema(
        app,
        openapi_path=OPENAPI_PATH,
        swagger_ui_path=None,  # myservice.docs_page serves its own, offline
        redoc_ui_path=None,
        scalar_ui_path=None,
        info=package_info(),
        openapi_provider_class=Provider,
        security_schemes={BEARER: {"type": "http", "scheme": "bearer", "bearer_format": "JWT"}},  # see auth.py
    )
    docs_page.init_app(app)
    one_json_style(app.json)
    app.register_error_handler(RequestSchemaValidationError, handle_validation_error)
    # quart-schema passes every response through pydantic, building a new generic model class (or
    # an adapter) each time: a third of a small request's cost (see bench/). Dump models only, with
    # one adapter per type; the bodies are the same (test_api checks both, byte for byte).
    app.make_response = dump_models(quart_make_response(app))  # type: ignore[method-assign,assignment]  # as quart-schema


def quart_make_response(app: Quart) -> MakeResponse:
    """Quart's own make_response from under quart-schema's wrapper, after checking that this is what is there."""
    wrapper, expected = app.make_response, "wrap_make_response.<locals>.decorator"
    found = getattr(getattr(wrapper, "__code__", None), "co_qualname", repr(wrapper))
    wrapped = getattr(wrapper, "__wrapped__", None)
    own = getattr(wrapped, "__func__", None) is type(app).make_response and getattr(wrapped, "__self__", None) is app
    if found != expected or not own:
        raise RuntimeError(
            f"{__name__} expects quart-schema ({version('quart-schema')} installed) to wrap make_response as"
            f" 0.25.0 does: {expected} around the app's own make_response; found {found} around {wrapped!r}."
            f" {__name__}.dump_models replaces that wrapper: compare it with the new one, then update the check"
        )
    # dump_models converts as quart-schema does with these options at their defaults.
    options = [f"QUART_SCHEMA_{name}" for name in ("CONVERT_CASING", "PYDANTIC_DUMP_OPTIONS", "CONVERSION_PREFERENCE")]
    if any(app.config[option] for option in options):
        raise RuntimeError(f"myservice.api.dump_models does not apply {', '.join(options)}: leave them unset")
    return cast(MakeResponse, wrapped)


def one_json_style(provider: JSONProvider) -> None:
    """Every JSON body (views, quart-schema, problem+json), debug or not: compact, keys in the order written."""
    if not isinstance(provider, DefaultJSONProvider):  # quart-schema's subclass, which dumps models too
        raise RuntimeError(f"expected a DefaultJSONProvider as app.json, found {type(provider).__qualname__}")
    provider.sort_keys = False  # Quart sorts keys (the documented problem order is type, title, status ...)
    provider.compact = True  # and indents them in debug mode


def dump_models(make_response: MakeResponse) -> MakeResponse:
    """Wrap Quart's make_response so that a dataclass or pydantic model result becomes plain data."""

    @wraps(make_response)
    async def wrapper(result: Any) -> Response:  # noqa: ANN401  # any view result, as Quart's
        if isinstance(result, tuple):
            value, *rest = result
            # Headers come last, in (value, headers) and (value, status, headers): a model is dumped.
            if rest and rest[-1] is not None and not isinstance(rest[-1], int | dict | list):
                rest[-1] = model_dump(rest[-1], kebabize=True)
            return await make_response((_plain(value), *rest))
        return await make_response(_plain(result))

    return wrapper


def _plain(value: object) -> object:
    """A model instance as builtins (as quart-schema dumps it); anything else as it is."""
    if isinstance(value, BaseModel) or (is_dataclass(value) and not isinstance(value, type)):
        adapter = _adapters.get(type(value))
        if adapter is None:
            adapter = _adapters[type(value)] = TypeAdapter(type(value))
        return adapter.dump_python(value)
    return value


_adapters: dict[type, TypeAdapter[Any]] = {}


def package_info() -> Info:
    """Title, version and description from the package itself, so they follow a rename and a release."""
    package = importlib.import_module(SERVICE)
    return Info(title=SERVICE, version=package.__version__, description=(package.__doc__ or "").splitlines()[0])


async def handle_validation_error(error: RequestSchemaValidationError) -> Response:
    """A request that fails its schema: 400 problem+json with `errors`, one entry per failing field."""
    part = next((name for kind, name in PARTS if isinstance(error, kind)), "body")
    found = field_errors(part, error.validation_error)
    fields = ", ".join(".".join(str(step) for step in item.loc) for item in found)
    return errors.problem(400, f"The request fails validation: {fields}", errors=[asdict(item) for item in found])


def field_errors(part: str, error: Exception) -> list[FieldError]:
    """Each failing field of `part` (pydantic's errors, without the input, which may be large or secret)."""
    if isinstance(error, ValidationError):
        return [FieldError(_loc(part, item["loc"]), item["msg"], item["type"]) for item in error.errors()]
    return [FieldError([part], str(error), type(error).__name__)]


def _loc(part: str, loc: tuple[str | int, ...]) -> list[str | int]:
    """Where a failing field is; a header by the name it is sent with (x-caller, not x_caller)."""
    if part == "header" and loc and isinstance(loc[0], str):
        loc = (snake_to_kebab(loc[0]), *loc[1:])
    return [part, *loc]
