"""Bearer authentication: each route says what it needs, one before_request hook checks it.

    @orders.get("/orders/<int:order_id>")
    @require_scopes("orders:read")
    async def get_order(order_id: int) -> Order:
        owner = caller().subject

`@public` routes are open to anyone; every other route needs a valid token (`Authorization: Bearer`),
verified by PyJWT with the keys of `myservice.auth_keys`, and a route with `@require_scopes`
also needs each scope it names. A missing or invalid token is a 401, a missing scope a 403 (RFC 6750), as
problem+json. See docs/auth.md.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar, cast

import jwt
from quart import Quart, current_app, g, request
from werkzeug.exceptions import HTTPException

from myservice import auth_keys
from myservice.settings import SettingsError

logger = logging.getLogger(__name__)
KEY = "auth"  # in app.extensions: the Keys
SCOPES = "_myservice_scopes"  # a view function's attribute: the scopes it needs
PUBLIC = "_myservice_public"  # a view function's attribute: anyone may call it
# quart-schema's own route, the document: public, as the routes it describes say who may call.
PUBLIC_ENDPOINTS = frozenset({"openapi"})
SUBJECT = "myservice.subject"  # our key in the ASGI scope: the subject, for the access line
REQUIRED_CLAIMS = ["exp", "iss", "aud", "sub"]
MISSING = "This route needs a bearer token: Authorization: Bearer <token>."
MALFORMED = "The Authorization header is not of the form: Bearer <token>."
INVALID = "The bearer token is not valid."

F = TypeVar("F", bound=Callable[..., object])


@dataclass(frozen=True)
class Caller:
    """Who is calling: the token's subject and the scopes it grants."""

    subject: str
    scopes: frozenset[str]


def require_scopes(*scopes: str) -> Callable[[F], F]:
    """Mark a view: callers need a valid token granting every scope in `scopes`."""
    if not scopes or any(not scope or " " in scope for scope in scopes):
        raise ValueError(f"require_scopes: expected scopes without spaces, such as 'orders:read'; got {scopes}")

    def decorator(func: F) -> F:
        setattr(func, SCOPES, frozenset(scopes))
        return func

    return decorator


def public(func: F) -> F:
    """Mark a view: anyone may call it, with or without a token."""
    setattr(func, PUBLIC, True)
    return func


def needs(endpoint: str, view: Callable[..., object]) -> frozenset[str] | None:
    """The scopes a route needs (none but a valid token for an unmarked one), or None for a public route."""
    scopes: frozenset[str] | None = getattr(view, SCOPES, None)
    if scopes is None and (getattr(view, PUBLIC, False) or endpoint in PUBLIC_ENDPOINTS):
        return None
    return scopes or frozenset()


def caller() -> Caller:
    """The caller of the request being handled, on a route that is not public."""
    found = current_caller()
    if found is None:
        raise RuntimeError("no caller: auth.caller() is for routes that are not @public (see current_caller)")
    return found


def current_caller() -> Caller | None:
    """The caller of the request being handled, or None on a public route (its tokens are not read)."""
    return cast(Caller | None, g.get("caller"))


class BearerError(HTTPException):
    """A 401 or 403 with its RFC 6750 challenge in WWW-Authenticate."""

    def __init__(self, code: int, description: str, challenge: str) -> None:
        super().__init__(description)
        self.code, self.challenge = code, challenge

    def get_headers(self, *args: Any, **kwargs: Any) -> list[tuple[str, str]]:  # noqa: ANN401  # as werkzeug's
        """werkzeug's headers and the challenge."""
        return [*super().get_headers(*args, **kwargs), ("WWW-Authenticate", self.challenge)]


def init_app(app: Quart) -> None:
    """Check every request against its route's needs; read the key sources (a bad one stops the start)."""
    app.extensions[KEY] = keys = auth_keys.Keys(auth_keys.static_keys(app.config), None)
    if not app.config["AUTH_ISSUER"] and (keys.static or app.config["AUTH_JWKS_URL"]):
        raise SettingsError("AUTH_ISSUER is empty: set it to the `iss` that the issuer's tokens name")

    @app.before_serving
    async def open_jwks() -> None:
        app.extensions[KEY].jwks = auth_keys.open_jwks(app.config)

    @app.after_serving
    async def close_jwks() -> None:
        if app.extensions[KEY].jwks is not None:
            await app.extensions[KEY].jwks.client.aclose()

    app.before_request(authenticate)


def check_keys(app: Quart) -> None:
    """With AUTH_KEYS_REQUIRED, refuse an app whose routes need tokens that nothing can verify."""
    keys: auth_keys.Keys = app.extensions[KEY]
    if not app.config["AUTH_KEYS_REQUIRED"] or keys.static or app.config["AUTH_JWKS_URL"]:
        return
    rules = app.url_map.iter_rules()
    scoped = sorted({rule.rule for rule in rules if getattr(app.view_functions[rule.endpoint], SCOPES, None)})
    if scoped:
        raise SettingsError(
            f"routes need tokens ({', '.join(scoped[:3])}{' ...' if len(scoped) > 3 else ''}) but no key source is set:"
            " set AUTH_JWKS_URL or AUTH_PUBLIC_KEY_FILE (see docs/auth.md)"
        )


async def authenticate() -> None:
    """Let the request through, as its route says, or raise the 401 or 403 (a public route costs a lookup)."""
    endpoint = request.endpoint
    # No route matched (the 404 or 405 follows), or a CORS preflight, which browsers send without credentials.
    if endpoint is None or request.method == "OPTIONS":
        return
    scopes = needs(endpoint, current_app.view_functions[endpoint])
    if scopes is None:
        return
    found = await verified(request.headers.get("Authorization"))
    g.caller = found
    request.scope[SUBJECT] = found.subject  # type: ignore[literal-required]  # our own key
    if missing := scopes - found.scopes:
        wanted = " ".join(sorted(scopes))
        raise BearerError(
            403,
            f"The token lacks a scope this route needs: {' '.join(sorted(missing))}.",
            f'Bearer error="insufficient_scope", scope="{wanted}"',
        )


async def verified(header: str | None) -> Caller:
    """The caller a bearer token in `header` (an Authorization header) proves, or a 401."""
    if header is None or not header.lower().startswith("bearer "):
        raise BearerError(401, MISSING, "Bearer")
    token = header[7:].strip()
    if not token or " " in token:
        raise BearerError(401, MALFORMED, 'Bearer error="invalid_request"')
    config = current_app.config
    try:
        if len(token) > config["AUTH_MAX_TOKEN_BYTES"]:
            raise jwt.InvalidTokenError(f"longer than {config['AUTH_MAX_TOKEN_BYTES']} bytes")
        head = jwt.get_unverified_header(token)
        if head.get("alg") not in config["AUTH_ALGORITHMS"]:  # before any key is looked up: not none, not HS*
            raise jwt.InvalidAlgorithmError(f"algorithm {str(head.get('alg'))[:20]!r} is not allowed")
        kid = head.get("kid")
        key = await current_app.extensions[KEY].key(kid if isinstance(kid, str) else None)
        if key is None:
            raise jwt.InvalidKeyError(f"no key {str(kid)[:40]!r}")
        claims = jwt.decode(
            token,
            key,
            algorithms=config["AUTH_ALGORITHMS"],
            audience=config["AUTH_AUDIENCE"],
            issuer=config["AUTH_ISSUER"],
            leeway=config["AUTH_LEEWAY"],
            options={"require": REQUIRED_CLAIMS},
        )
        return Caller(str(claims["sub"]), scopes_of(claims))
    except jwt.PyJWTError as error:  # the reason goes to the log, not to the caller
        logger.info("bearer token refused: %s", error)
        raise BearerError(401, INVALID, 'Bearer error="invalid_token"') from None


def scopes_of(claims: dict[str, Any]) -> frozenset[str]:
    """The scopes a token grants: `scope`, a space-separated string (RFC 8693, RFC 9068), or a list in `scp`."""
    scope, scp = claims.get("scope"), claims.get("scp")
    if isinstance(scope, str):
        return frozenset(scope.split())
    if isinstance(scp, list):
        return frozenset(str(item) for item in scp)
    return frozenset()
