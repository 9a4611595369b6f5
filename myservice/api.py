"""The API contract: quart-schema validates requests and responses and serves the OpenAPI document.

Each route documents itself: its handler's docstring is the summary, `validate_request`,
`validate_querystring`, `validate_headers` and `validate_response` give the schemas (see
`myservice.openapi`), and its blueprint's name is its tag.
"""

from __future__ import annotations

import importlib
from dataclasses import asdict

from pydantic import ValidationError
from quart import Quart, Response
from quart_schema import Info, QuartSchema, RequestSchemaValidationError, snake_to_kebab
from quart_schema.validation import QuerystringValidationError, RequestHeadersValidationError

from myservice import errors
from myservice.openapi import FieldError, Provider
from myservice.settings import SERVICE

OPENAPI_PATH = "/openapi.json"
DOCS_PATH = "/docs"
# Which part of the request failed; RequestSchemaValidationError itself is the body's.
PARTS = ((QuerystringValidationError, "query"), (RequestHeadersValidationError, "header"))


def init_app(app: Quart) -> None:
    """Serve /openapi.json (and the docs UI if API_DOCS); answer invalid requests with 400 problem+json."""
    QuartSchema(
        app,
        openapi_path=OPENAPI_PATH,
        swagger_ui_path=DOCS_PATH if app.config["API_DOCS"] else None,
        redoc_ui_path=None,
        scalar_ui_path=None,
        info=package_info(),
        openapi_provider_class=Provider,
    )
    app.register_error_handler(RequestSchemaValidationError, handle_validation_error)


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
