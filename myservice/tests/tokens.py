"""A test token issuer: real key pairs and signed JWTs, its JWKS served on 127.0.0.1, and a token endpoint.

conftest.py trusts `ISSUER` in every test (its public key file in MYSERVICE_AUTH_PUBLIC_KEY_FILE),
so tests and the servers they start call protected routes with `bearer(...)`.
"""

from __future__ import annotations

import hashlib
import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, cast

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from jwt.algorithms import AllowedPrivateKeys
from quart import Blueprint, Quart, Response
from quart.testing import QuartClient
from quart.typing import TestClientProtocol
from werkzeug.datastructures import Headers

from myservice.auth import public
from myservice.settings import SERVICE

ISSUER_URL = "https://issuer.test"  # the `iss` of the test tokens, never fetched


def new_key(algorithm: str = "RS256") -> AllowedPrivateKeys:
    """A fresh private key for `algorithm`."""
    if algorithm == "RS256":
        return rsa.generate_private_key(public_exponent=65537, key_size=2048)
    if algorithm == "ES256":
        return ec.generate_private_key(ec.SECP256R1())
    return ed25519.Ed25519PrivateKey.generate()


@dataclass
class Issuer:
    """A key pair that signs tokens for this service (`iss` ISSUER_URL, `aud` the service's name)."""

    key: AllowedPrivateKeys = field(default_factory=new_key)
    algorithm: str = "RS256"
    kid: str | None = None

    def token(self, *scopes: str, subject: str = "tester", lifetime: float = 300, **claims: Any) -> str:  # noqa: ANN401
        """A signed token granting `scopes`; `claims` add to, replace or (None) remove the usual ones."""
        now = int(time.time())
        payload = {"iss": ISSUER_URL, "aud": SERVICE, "sub": subject, "iat": now, "exp": now + lifetime}
        payload |= {"scope": " ".join(scopes)} | claims
        payload = {name: value for name, value in payload.items() if value is not None}  # None: leave it out
        headers = {"kid": self.kid} if self.kid else None
        return jwt.encode(payload, self.key, algorithm=self.algorithm, headers=headers)

    def headers(self, *scopes: str, **claims: Any) -> dict[str, str]:  # noqa: ANN401
        """The Authorization header of a token granting `scopes`."""
        return {"Authorization": f"Bearer {self.token(*scopes, **claims)}"}

    def public_pem(self) -> bytes:
        """The public key, as a PEM file holds it."""
        public_key = self.key.public_key()
        return public_key.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)

    def jwk(self) -> dict[str, Any]:
        """The public key as a JWK with its key id and algorithm."""
        jwk = jwt.get_algorithm_by_name(self.algorithm).to_jwk(self.key.public_key(), as_dict=True)
        return jwk | {"kid": self.kid, "alg": self.algorithm, "use": "sig"}


# The issuer every test trusts (see conftest.py): the same key in every process (a server a test starts, a pytest
# run inside a test), from a fixed seed. A test key: it signs nothing but test tokens.
ISSUER = Issuer(ed25519.Ed25519PrivateKey.from_private_bytes(hashlib.sha256(b"test issuer").digest()), "EdDSA")


def bearer(*scopes: str, **claims: Any) -> dict[str, str]:  # noqa: ANN401
    """An Authorization header with a token of the trusted test issuer granting `scopes`."""
    return ISSUER.headers(*scopes, **claims)


class TokenClient(QuartClient):
    """A test client whose every request carries a token of the test issuer granting `scopes`, unless the
    request sets Authorization itself."""

    scopes: tuple[str, ...] = ()

    async def open(self, path: str, *, headers: dict[str, str] | Headers | None = None, **kwargs: Any) -> Response:  # noqa: ANN401
        sent = Headers(headers)
        sent.setdefault("Authorization", bearer(*self.scopes)["Authorization"])
        return await super().open(path, headers=sent, **kwargs)


def client_with_token(app: Quart, *scopes: str) -> TestClientProtocol:
    """A test client of `app` that sends a token granting `scopes` (see TokenClient)."""
    client = TokenClient(app)
    client.scopes = scopes
    # Typed as app.test_client() is: Quart's own client differs from its Protocol (set_cookie's charset).
    return cast(TestClientProtocol, client)


def open_to_anyone(app: Quart, *blueprints: Blueprint) -> Quart:
    """Mark every route of the test-only `blueprints` @public: they test other things than tokens."""
    names = tuple(f"{blueprint.name}." for blueprint in blueprints)
    for endpoint, view in app.view_functions.items():
        if endpoint.startswith(names):
            public(view)
    return app


class JWKSServer(ThreadingHTTPServer):
    """An issuer's JWKS endpoint on 127.0.0.1: serves `keys` (a list of JWKs), counts fetches, can be down."""

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), JWKSHandler)
        self.keys: list[dict[str, Any]] = []
        self.fetches = 0
        self.down = False

    @property
    def url(self) -> str:
        """The JWKS URL."""
        return f"http://127.0.0.1:{self.server_address[1]}/jwks.json"


class JWKSHandler(BaseHTTPRequestHandler):
    """Answers GET with the server's key set, or 503 while it is down."""

    server: JWKSServer

    def do_GET(self) -> None:  # http.server's name
        self.server.fetches += 1
        body = json.dumps({"keys": self.server.keys}).encode()
        self.send_response(503 if self.server.down else 200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:  # http.server's name
        """Quiet: the test reads what it needs from the server."""


@contextmanager
def jwks_server(*issuers: Issuer) -> Iterator[JWKSServer]:
    """A JWKS server with the public keys of `issuers`, serving in a thread until the block ends."""
    server = JWKSServer()
    server.keys = [issuer.jwk() for issuer in issuers]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)
