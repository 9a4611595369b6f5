"""URL routing for a service on the internet: Quart's URL map, but a Host that is no host name is a 400,
a method outside METHODS is a 501, and the map's own redirects stay on the host the client came to."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit, urlunsplit

from quart import Quart
from quart.routing import QuartMap
from quart.wrappers import BaseRequestWebsocket
from werkzeug.exceptions import BadHost, HTTPException, NotImplemented  # werkzeug's name for 501
from werkzeug.routing import MapAdapter, RequestRedirect

# The methods routes can serve; any other method, or a different case ("get"), is a 501 (RFC 9110 §9.1).
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "DELETE", "OPTIONS", "PATCH"})
BAD_HOST = "The Host header is not a valid host name."
UNKNOWN_METHOD = f"The request method is not one this service implements ({', '.join(sorted(METHODS))})."


def init_app(app: Quart) -> None:
    """Route with URLMap; first, before any route is added."""
    if list(app.url_map.iter_rules()):
        raise RuntimeError("routing.init_app must come before any route is added: it replaces the URL map")
    app.url_map = URLMap()


class URLMap(QuartMap):
    """Quart's URL map, binding each request to an adapter that refuses it, or to a RelativeRedirects."""

    def bind_to_request(
        self, request: BaseRequestWebsocket, subdomain: str | None, server_name: str | None
    ) -> MapAdapter:
        """The request's adapter; the checks cost a set lookup, and werkzeug's own IDNA encoding of the Host."""
        if request.scope.get("method", "GET") not in METHODS:  # a websocket's scope has no method
            return Refusal(self, NotImplemented(UNKNOWN_METHOD))
        try:
            adapter = super().bind_to_request(request, subdomain, server_name)
        except BadHost:  # raised here, before Quart's error handling starts: it would be a bare 500
            return Refusal(self, BadHost(BAD_HOST))
        adapter.__class__ = RelativeRedirects  # werkzeug's Map.bind makes a plain MapAdapter; same layout
        return adapter


class RelativeRedirects(MapAdapter):
    """A MapAdapter whose redirects (a missing slash, merged slashes, a default value) are relative:
    werkzeug makes them absolute with the request's Host, which the client chose (an open redirect)."""

    def match(self, *args: Any, **kwargs: Any) -> Any:  # noqa: ANN401  # werkzeug's overloads
        try:
            return super().match(*args, **kwargs)
        except RequestRedirect as redirect:
            raise RequestRedirect(self.relative(redirect.new_url)) from None

    def relative(self, url: str) -> str:
        """`url` without its scheme and host when the host is the request's: one leading slash, never two."""
        _, host, path, query, fragment = urlsplit(url)
        if host not in (self.server_name, f"{self.subdomain}.{self.server_name}"):
            return url
        return urlunsplit(("", "", "/" + path.lstrip("/\\"), query, fragment))


class Refusal(MapAdapter):
    """An adapter that matches nothing: routing the request raises `error`, which the error handlers answer."""

    def __init__(self, url_map: QuartMap, error: HTTPException) -> None:
        super().__init__(url_map, "invalid", "/", None, "http", "/", "GET")
        self.error = error

    def match(self, *args: Any, **kwargs: Any) -> Any:  # noqa: ANN401  # werkzeug's overloads
        raise self.error
