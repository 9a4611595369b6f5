"""The OpenAPI document: quart-schema's, with operations named after their handlers and tagged by blueprint.

Routes with validated input also document their problem+json answers (400; 413 and 415 for a JSON
body), routes with path parameters their 404, rate limited routes their 429 (see myservice.limits);
`problem_response` documents the problems a route raises itself (`abort(409, ...)`), `text_response`
a text/plain body, `no_content_response` a 204 with no body: quart-schema can do none of them.
"""

from __future__ import annotations

from collections.abc import Callable
from http import HTTPStatus
from typing import Any, TypeVar

from pydantic.dataclasses import dataclass
from quart import has_request_context, request
from quart_schema import DataSource, OpenAPIProvider, kebab_to_snake
from quart_schema.conversion import model_schema
from quart_schema.validation import (
    QUART_SCHEMA_HEADERS_ATTRIBUTE,
    QUART_SCHEMA_QUERYSTRING_ATTRIBUTE,
    QUART_SCHEMA_REQUEST_ATTRIBUTE,
)
from werkzeug.routing import BaseConverter, FloatConverter, IntegerConverter, Rule

from myservice import auth, limits
from myservice.errors import MEDIA_TYPE

TEXT_RESPONSE = "_myservice_text_response"
NO_CONTENT_RESPONSE = "_myservice_no_content_response"
PROBLEM_RESPONSES = "_myservice_problem_responses"
INPUT_PROBLEMS = {400: "The request is malformed or fails validation; `errors` names each failing field."}
BODY_PROBLEMS = {413: "The body is larger than MAX_CONTENT_LENGTH.", 415: "The body is not sent as JSON."}
PATH_PROBLEMS = {404: "Nothing is at this path: a path parameter is not of its type."}
BEARER = "bearerAuth"  # the security scheme of bearer tokens (myservice.auth)
TOKEN_PROBLEMS = {401: "No bearer token was sent, or it is not valid (see WWW-Authenticate)."}
SCOPE_PROBLEMS = {403: "The bearer token lacks a scope the route needs (see WWW-Authenticate)."}

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


def no_content_response(description: str) -> Callable[[F], F]:
    """Document the route's success as 204 No Content: no body (a DELETE's answer)."""

    def decorator(func: F) -> F:
        setattr(func, NO_CONTENT_RESPONSE, description)
        return func

    return decorator


def problem_response(status: int, *more: int, description: str | None = None) -> Callable[[F], F]:
    """Document problem+json answers the route gives (`abort(404, ...)`), described by `description` or HTTP phrase."""
    statuses = (status, *more)
    if wrong := [code for code in statuses if not 400 <= code < 600]:
        raise ValueError(f"problem_response: {wrong} are not error statuses (4xx or 5xx)")
    answers = {code: description or HTTPStatus(code).phrase for code in statuses}

    def decorator(func: F) -> F:
        # A new dict: quart-schema's wrappers share the handler's attributes, stacked decorators add up.
        setattr(func, PROBLEM_RESPONSES, getattr(func, PROBLEM_RESPONSES, {}) | answers)
        return func

    return decorator


class Provider(OpenAPIProvider):
    """Builds the document from the app's routes when /openapi.json is asked for."""

    def schema(self) -> dict[str, Any]:
        """The document; behind a proxy's path prefix (ROOT_PATH) its server is that prefix, so that clients
        (the docs page's "Try it out" too) call the paths under it."""
        document = super().schema()
        if has_request_context() and request.root_path and "servers" not in document:
            document["servers"] = [{"url": request.root_path}]
        return document

    def build_paths(self, rule: Rule) -> tuple[dict[str, Any], dict[str, Any]]:
        """The path objects of `rule` and the schemas they refer to."""
        paths, components = super().build_paths(rule)
        responses, more_components = self._more_responses(rule)
        blueprint = rule.endpoint.rpartition(".")[0]
        for operations in paths.values():
            for operation in operations.values():
                operation["responses"] = responses | operation["responses"]
                if "requestBody" in operation:  # validate_request refuses a request without one
                    operation["requestBody"]["required"] = True
                if blueprint:
                    operation.setdefault("tags", [blueprint])
                if (scopes := auth.needs(rule.endpoint, self._app.view_functions[rule.endpoint])) is not None:
                    operation["security"] = [{BEARER: sorted(scopes)}]  # OpenAPI 3.1: scopes for any scheme
        return paths, components | more_components

    def build_querystring_parameters(self, model: type[Any]) -> Parameters:
        """The query parameters, the required ones marked so (quart-schema marks none)."""
        return _mark_required(model, *super().build_querystring_parameters(model))

    def build_headers_parameters(self, model: type[Any]) -> Parameters:
        """The header parameters, the required ones marked so (quart-schema marks none)."""
        return _mark_required(model, *super().build_headers_parameters(model))

    def build_path_parameter(self, name: str, converter: BaseConverter) -> dict[str, Any]:
        """The path parameter, bounded as its converter is (`<int:id>` takes no negative number)."""
        parameter = super().build_path_parameter(name, converter)
        if isinstance(converter, IntegerConverter | FloatConverter):
            low = 0 if converter.min is None and not converter.signed else converter.min
            bounds = (("minimum", low), ("maximum", converter.max))
            parameter["schema"] |= {key: value for key, value in bounds if value is not None}
        return parameter

    def operation_id(self, method: str, path: str, func: Callable[..., object]) -> str:
        """The handler's name (quart-schema's `get_get_home` stutters: handlers are named <verb>_<noun>)."""
        return func.__name__

    def _more_responses(self, rule: Rule) -> tuple[dict[int, Any], dict[str, Any]]:
        """The text/plain, no-content and problem+json responses that quart-schema leaves out."""
        handler = self._app.view_functions[rule.endpoint]
        responses: dict[int, Any] = {}
        if (description := getattr(handler, TEXT_RESPONSE, None)) is not None:
            responses[200] = {"description": description, "content": {"text/plain": {"schema": {"type": "string"}}}}
        if (description := getattr(handler, NO_CONTENT_RESPONSE, None)) is not None:
            responses[204] = {"description": description}
        limited = limits.problems(self._app, handler, self._app.blueprints.get(rule.endpoint.rpartition(".")[0]))
        problems = _problems(handler, rule) | _auth_problems(handler, rule) | getattr(handler, PROBLEM_RESPONSES, {})
        problems |= limited
        if not problems:
            return responses, {}
        problem, components = self.build_response_object(Problem, None)
        components["Problem"] = problem["content"]["application/json"]["schema"]  # once, not in every response
        content = {MEDIA_TYPE: {"schema": {"$ref": "#/components/schemas/Problem"}}}
        responses |= {status: {"description": text, "content": content} for status, text in problems.items()}
        for status in limited:
            responses[status]["headers"] = limits.HEADERS[status]
        return responses, components


def _problems(handler: Callable[..., object], rule: Rule) -> dict[int, str]:
    """What can be wrong with a request's path or a handler's validated input, by status."""
    body = getattr(handler, QUART_SCHEMA_REQUEST_ATTRIBUTE, None)
    parameters = [
        getattr(handler, name, None) for name in (QUART_SCHEMA_QUERYSTRING_ATTRIBUTE, QUART_SCHEMA_HEADERS_ATTRIBUTE)
    ]
    # The router answers 404 to a value its converter refuses (`/orders/abc` for `<int:order_id>`).
    problems = PATH_PROBLEMS if rule.arguments - set(rule.defaults or ()) else {}
    problems = problems | (INPUT_PROBLEMS if body or any(parameters) else {})
    return problems | (BODY_PROBLEMS if body and body[1] == DataSource.JSON else {})


def _auth_problems(handler: Callable[..., object], rule: Rule) -> dict[int, str]:
    """The 401 of a route that needs a token, and the 403 of one that needs scopes."""
    scopes = auth.needs(rule.endpoint, handler)
    return {} if scopes is None else TOKEN_PROBLEMS | (SCOPE_PROBLEMS if scopes else {})


def _mark_required(model: type[Any], parameters: list[dict[str, Any]], definitions: dict[str, Any]) -> Parameters:
    required = set(model_schema(model).get("required", []))
    for parameter in parameters:
        parameter["required"] = kebab_to_snake(parameter["name"]) in required
    return parameters, definitions
