"""The OpenAPI document: quart-schema's, with operations named after their handlers and tagged by blueprint.

Routes with validated input also document their problem+json answers (400; 413 and 415 for a JSON
body); `text_response` documents a text/plain body, which quart-schema cannot.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from pydantic.dataclasses import dataclass
from quart_schema import DataSource, OpenAPIProvider, kebab_to_snake
from quart_schema.conversion import model_schema
from quart_schema.validation import (
    QUART_SCHEMA_HEADERS_ATTRIBUTE,
    QUART_SCHEMA_QUERYSTRING_ATTRIBUTE,
    QUART_SCHEMA_REQUEST_ATTRIBUTE,
)
from werkzeug.routing import Rule

from myservice.errors import MEDIA_TYPE

TEXT_RESPONSE = "_myservice_text_response"
INPUT_PROBLEMS = {400: "The request is malformed or fails validation; `errors` names each failing field."}
BODY_PROBLEMS = {413: "The body is larger than MAX_CONTENT_LENGTH.", 415: "The body is not sent as JSON."}

F = TypeVar("F", bound=Callable[..., object])
Parameters = tuple[list[dict[str, Any]], dict[str, Any]]


@dataclass
class FieldError:
    """One failing field: where it is (`loc`: body, query or header, then the path), why, and the kind."""

    loc: list[str | int]
    msg: str
    type: str


@dataclass
class Problem:
    """An error as application/problem+json (RFC 9457)."""

    type: str
    title: str
    status: int
    detail: str
    request_id: str
    errors: list[FieldError] | None = None


def text_response(description: str) -> Callable[[F], F]:
    """Document the route's 200 response as text/plain."""

    def decorator(func: F) -> F:
        setattr(func, TEXT_RESPONSE, description)
        return func

    return decorator


class Provider(OpenAPIProvider):
    """Builds the document from the app's routes when /openapi.json is asked for."""

    def build_paths(self, rule: Rule) -> tuple[dict[str, Any], dict[str, Any]]:
        """The path objects of `rule` and the schemas they refer to."""
        paths, components = super().build_paths(rule)
        responses, more_components = self._more_responses(self._app.view_functions[rule.endpoint])
        blueprint = rule.endpoint.rpartition(".")[0]
        for operations in paths.values():
            for operation in operations.values():
                operation["responses"] = responses | operation["responses"]
                if "requestBody" in operation:  # validate_request refuses a request without one
                    operation["requestBody"]["required"] = True
                if blueprint:
                    operation.setdefault("tags", [blueprint])
        return paths, components | more_components

    def build_querystring_parameters(self, model: type[Any]) -> Parameters:
        """The query parameters, the required ones marked so (quart-schema marks none)."""
        return _mark_required(model, *super().build_querystring_parameters(model))

    def build_headers_parameters(self, model: type[Any]) -> Parameters:
        """The header parameters, the required ones marked so (quart-schema marks none)."""
        return _mark_required(model, *super().build_headers_parameters(model))

    def operation_id(self, method: str, path: str, func: Callable[..., object]) -> str:
        """The handler's name (quart-schema's `get_get_home` stutters: handlers are named <verb>_<noun>)."""
        return func.__name__

    def _more_responses(self, handler: Callable[..., object]) -> tuple[dict[int, Any], dict[str, Any]]:
        """The text/plain and problem+json responses that quart-schema leaves out."""
        responses: dict[int, Any] = {}
        if (description := getattr(handler, TEXT_RESPONSE, None)) is not None:
            responses[200] = {"description": description, "content": {"text/plain": {"schema": {"type": "string"}}}}
        problems = _problems(handler)
        if not problems:
            return responses, {}
        problem, components = self.build_response_object(Problem, None)
        content = {MEDIA_TYPE: problem["content"]["application/json"]}
        responses |= {status: {"description": text, "content": content} for status, text in problems.items()}
        return responses, components


def _problems(handler: Callable[..., object]) -> dict[int, str]:
    """What can be wrong with a handler's validated input, by status."""
    body = getattr(handler, QUART_SCHEMA_REQUEST_ATTRIBUTE, None)
    problems: dict[int, str] = {}
    if body or any(
        getattr(handler, name, None) for name in (QUART_SCHEMA_QUERYSTRING_ATTRIBUTE, QUART_SCHEMA_HEADERS_ATTRIBUTE)
    ):
        problems |= INPUT_PROBLEMS
    if body and body[1] == DataSource.JSON:
        problems |= BODY_PROBLEMS
    return problems


def _mark_required(model: type[Any], parameters: list[dict[str, Any]], definitions: dict[str, Any]) -> Parameters:
    required = set(model_schema(model).get("required", []))
    for parameter in parameters:
        parameter["required"] = kebab_to_snake(parameter["name"]) in required
    return parameters, definitions
