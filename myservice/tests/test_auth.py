"""Bearer authentication: real key pairs, signed tokens, a real JWKS server on 127.0.0.1."""

from __future__ import annotations

import base64
import json
import logging
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import jwt
import pytest
from quart import Blueprint, Quart
from quart.typing import TestClientProtocol as Client

from myservice import create_app
from myservice.auth import (
    PUBLIC,
    PUBLIC_ENDPOINTS,
    SCOPES,
    caller,
    current_caller,
    public,
    require_scopes,
)
from myservice.settings import ENV_PREFIX, SettingsError, load_settings
from myservice.views import find_blueprints

from .helpers import REPO, assert_problem
from .tokens import ISSUER, Issuer, bearer, jwks_server, new_key

widgets = Blueprint("widgets", __name__, url_prefix="/widgets")


@widgets.get("/")
@require_scopes("widgets:read")
async def list_widgets() -> dict[str, object]:
    """Say who called, with which scopes."""
    return {"subject": caller().subject, "scopes": sorted(caller().scopes)}


@widgets.get("/open")
@public
async def get_open() -> dict[str, object]:
    """Anyone: say who called, if a token came."""
    found = current_caller()
    return {"subject": None if found is None else found.subject}


@widgets.get("/any")
async def get_any() -> dict[str, object]:
    """Neither marked: any valid token."""
    return {"subject": caller().subject}


async def started(settings: dict[str, object] | None = None) -> AsyncIterator[Client]:
    """A client of the service plus the widgets routes, started."""
    app = create_app(blueprints=[*find_blueprints(), widgets], settings={"TESTING": True, **(settings or {})})
    async with app.test_app():
        yield app.test_client()


@pytest.fixture(name="widgets_client")
async def _widgets_client() -> AsyncIterator[Client]:
    """The service plus widgets, trusting the test issuer (conftest)."""
    async for client in started():
        yield client


def test_every_route_is_public_or_requires_scopes(app: Quart) -> None:
    """Each route of the service (scaffolded ones too) says who may call it."""
    unmarked = [
        rule.rule
        for rule in app.url_map.iter_rules()
        if rule.endpoint not in PUBLIC_ENDPOINTS
        and not getattr(app.view_functions[rule.endpoint], SCOPES, None)
        and not getattr(app.view_functions[rule.endpoint], PUBLIC, False)
    ]
    assert unmarked == []


@pytest.mark.parametrize("path", ["/", "/healthz", "/readyz", "/metrics", "/openapi.json", "/docs"])
async def test_public_routes_need_no_token(client: Client, path: str) -> None:
    response = await client.get(path)
    assert response.status_code == 200
    assert "WWW-Authenticate" not in response.headers


@pytest.mark.parametrize("algorithm", ["RS256", "ES256", "EdDSA"])
async def test_a_valid_token_of_each_algorithm_is_accepted(tmp_path: Path, algorithm: str) -> None:
    """A public key file of each kind verifies its tokens; the view reads subject and scopes."""
    issuer = Issuer(new_key(algorithm), algorithm)
    (tmp_path / "issuer.pem").write_bytes(issuer.public_pem())
    async for client in started({"AUTH_PUBLIC_KEY_FILE": str(tmp_path / "issuer.pem")}):
        response = await client.get("/widgets/", headers=issuer.headers("widgets:read", "other", subject="alice"))
        assert (response.status_code, await response.get_json()) == (
            200,
            {"subject": "alice", "scopes": ["other", "widgets:read"]},
        )


async def test_scopes_in_a_scp_list_count_too(widgets_client: Client) -> None:
    response = await widgets_client.get("/widgets/", headers=bearer(scp=["widgets:read"], scope=None))
    assert response.status_code == 200


def bad_tokens() -> dict[str, Callable[[], str]]:
    """Tokens the service must refuse, by what is wrong with them."""
    now = int(time.time())
    other = Issuer(new_key("EdDSA"), "EdDSA")
    good = ISSUER.token("widgets:read")
    head, payload, signature = good.split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=="))
    forged = base64.urlsafe_b64encode(json.dumps(claims | {"scope": "widgets:read admin"}).encode()).rstrip(b"=")
    return {
        "expired": lambda: ISSUER.token("widgets:read", exp=now - 3600),
        "not yet valid": lambda: ISSUER.token("widgets:read", nbf=now + 3600),
        "issued in the future": lambda: ISSUER.token("widgets:read", iat=now + 3600),
        "wrong issuer": lambda: ISSUER.token("widgets:read", iss="https://elsewhere.test"),
        "wrong audience": lambda: ISSUER.token("widgets:read", aud="another-service"),
        "no expiry": lambda: ISSUER.token("widgets:read", exp=None),
        "no subject": lambda: ISSUER.token("widgets:read", sub=None),
        "alg none": lambda: jwt.encode({**claims}, "", algorithm="none"),
        "HS256 with the public key as secret": lambda: hs256(claims, ISSUER.public_pem()),
        "tampered payload": lambda: f"{head}.{forged.decode()}.{signature}",
        "signed by another key": lambda: other.token("widgets:read"),
        "unknown kid": lambda: Issuer(other.key, "EdDSA", kid="nope").token("widgets:read"),
        "oversized": lambda: ISSUER.token("widgets:read", padding="x" * 9000),
        "malformed base64": lambda: f"{head}.@@@{payload}.{signature}",
        "not a JWT": lambda: "just-some-text",
    }


def hs256(claims: dict[str, Any], secret: bytes) -> str:
    """A token signed with HMAC, `secret` as the key (PyJWT refuses a PEM key here, so sign by hand)."""
    import hashlib
    import hmac

    def part(data: bytes) -> str:
        return base64.urlsafe_b64encode(data).rstrip(b"=").decode()

    signing = part(b'{"alg":"HS256","typ":"JWT"}') + "." + part(json.dumps(claims).encode())
    return signing + "." + part(hmac.new(secret, signing.encode(), hashlib.sha256).digest())


@pytest.mark.parametrize("case", list(bad_tokens()))
async def test_a_bad_token_is_refused_without_saying_why(
    widgets_client: Client, case: str, caplog: pytest.LogCaptureFixture
) -> None:
    """401 invalid_token, the same answer for every case; the reason is logged only."""
    token = bad_tokens()[case]()
    with caplog.at_level(logging.INFO, "myservice.auth"):
        response = await widgets_client.get("/widgets/", headers={"Authorization": f"Bearer {token}"})
    body = await assert_problem(response, 401, "The bearer token is not valid.")
    assert body["detail"] == "The bearer token is not valid."
    assert response.headers["WWW-Authenticate"] == 'Bearer error="invalid_token"'
    assert "bearer token refused" in caplog.text


@pytest.mark.parametrize(
    ("header", "challenge"),
    [
        (None, "Bearer"),
        ("Basic dXNlcjpwYXNz", "Bearer"),
        ("Bearer", "Bearer"),
        ("Bearer ", 'Bearer error="invalid_request"'),
        ("Bearer two words", 'Bearer error="invalid_request"'),
    ],
)
async def test_no_bearer_token_is_a_401_with_a_challenge(
    widgets_client: Client, header: str | None, challenge: str
) -> None:
    headers = {} if header is None else {"Authorization": header}
    response = await widgets_client.get("/widgets/", headers=headers)
    await assert_problem(response, 401, "")
    assert response.headers["WWW-Authenticate"] == challenge


async def test_a_missing_scope_is_a_403_naming_it(widgets_client: Client) -> None:
    response = await widgets_client.get("/widgets/", headers=bearer("widgets:write"))
    await assert_problem(response, 403, "The token lacks a scope this route needs: widgets:read.")
    assert response.headers["WWW-Authenticate"] == 'Bearer error="insufficient_scope", scope="widgets:read"'


async def test_an_unmarked_route_needs_a_valid_token(widgets_client: Client) -> None:
    """Deny by default: a route that says nothing needs a token, with no scope."""
    assert (await widgets_client.get("/widgets/any")).status_code == 401
    response = await widgets_client.get("/widgets/any", headers=bearer())
    assert (response.status_code, await response.get_json()) == (200, {"subject": "tester"})


async def test_a_public_route_sees_a_caller_only_if_one_is_verified(widgets_client: Client) -> None:
    assert await (await widgets_client.get("/widgets/open")).get_json() == {"subject": None}
    response = await widgets_client.get("/widgets/open", headers=bearer())
    assert await response.get_json() == {"subject": None}  # public: the token is not even read


async def test_a_cors_preflight_needs_no_token() -> None:
    """Browsers send a preflight without credentials: it is answered, the real request then needs the token."""
    async for client in started({"CORS_ALLOWED_ORIGINS": ["https://app.example.com"]}):
        headers = {"Origin": "https://app.example.com", "Access-Control-Request-Method": "GET"}
        response = await client.options("/widgets/", headers=headers)
        assert response.status_code == 200
        assert response.headers["Access-Control-Allow-Origin"] == "https://app.example.com"
        assert (await client.get("/widgets/", headers={"Origin": "https://app.example.com"})).status_code == 401


async def test_an_unknown_path_is_a_404_not_a_401(widgets_client: Client) -> None:
    response = await widgets_client.get("/widgets/nothing/here")
    await assert_problem(response, 404, "")


async def test_the_access_line_names_the_subject(widgets_client: Client, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO, "myservice.access"):
        await widgets_client.get("/widgets/", headers=bearer("widgets:read", subject="alice"))
        await widgets_client.get("/widgets/open")
    first, second = [record for record in caplog.records if record.name == "myservice.access"]
    assert (first.getMessage().endswith(" by alice"), first.__dict__["subject"]) == (True, "alice")
    assert (" by " in second.getMessage(), hasattr(second, "subject")) == (False, False)


async def test_the_openapi_document_gives_the_scheme_and_each_operation_its_scopes(widgets_client: Client) -> None:
    document = await (await widgets_client.get("/openapi.json")).get_json()
    scheme = document["components"]["securitySchemes"]["bearerAuth"]
    assert scheme == {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}
    listed = document["paths"]["/widgets/"]["get"]
    assert listed["security"] == [{"bearerAuth": ["widgets:read"]}]
    assert {"401", "403"} <= set(listed["responses"])
    assert document["paths"]["/widgets/any"]["get"]["security"] == [{"bearerAuth": []}]
    assert "403" not in document["paths"]["/widgets/any"]["get"]["responses"]
    assert "security" not in document["paths"]["/widgets/open"]["get"]
    assert "401" not in document["paths"]["/healthz"]["get"]["responses"]


def test_production_settings_refuse_scoped_routes_without_a_key_source(monkeypatch: pytest.MonkeyPatch) -> None:
    """settings.prod.yml and a route that needs scopes, but nothing to verify tokens with: one clear line."""
    monkeypatch.delenv(f"{ENV_PREFIX}AUTH_PUBLIC_KEY_FILE")
    with pytest.raises(SettingsError) as refused:
        create_app(blueprints=[widgets], settings=REPO / "settings.prod.yml")
    assert str(refused.value) == (
        "routes need tokens (/widgets/) but no key source is set: set AUTH_JWKS_URL or AUTH_PUBLIC_KEY_FILE"
        " (see docs/auth.md)"
    )
    create_app(blueprints=[], settings=REPO / "settings.prod.yml")  # no route needs scopes: it starts


def test_only_development_settings_trust_the_development_key() -> None:
    assert load_settings(REPO / "settings.yml", environ={})["AUTH_DEV_KEY"] is True
    assert load_settings(REPO / "settings.prod.yml", environ={})["AUTH_DEV_KEY"] is False


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"AUTH_PUBLIC_KEY_FILE": "missing.pem"}, "AUTH_PUBLIC_KEY_FILE 'missing.pem' cannot be used: No such file"),
        ({"AUTH_ISSUER": ""}, "AUTH_ISSUER is empty: set it to the `iss` that the issuer's tokens name"),
        ({"AUTH_ALGORITHMS": ["HS256"]}, "AUTH_ALGORITHMS has value ['HS256']: expected a non-empty list of"),
        ({"AUTH_ALGORITHMS": []}, "AUTH_ALGORITHMS has value []: expected a non-empty list of"),
        ({"AUTH_JWKS_URL": "ftp://x"}, "AUTH_JWKS_URL has value 'ftp://x': it is not an http:// or https:// URL"),
    ],
)
def test_bad_auth_settings_stop_the_start(settings: dict[str, object], message: str) -> None:
    with pytest.raises(SettingsError) as refused:
        create_app(settings=settings)
    assert message in str(refused.value)
    assert "\n" not in str(refused.value)


def test_a_file_that_holds_no_public_key_is_refused(tmp_path: Path) -> None:
    (tmp_path / "not-a-key.pem").write_text("hello")
    with pytest.raises(SettingsError, match="holds no PEM public key"):
        create_app(settings={"AUTH_PUBLIC_KEY_FILE": str(tmp_path / "not-a-key.pem")})


async def test_the_development_key_verifies_tokens_minted_with_it(monkeypatch: pytest.MonkeyPatch) -> None:
    """AUTH_DEV_KEY: the key is made in instance/dev-keys/ on first use (owner-only private key) and trusted."""
    from myservice.auth_keys import DEV_KEYS, DEV_KID, dev_key

    async for client in started({"AUTH_DEV_KEY": True}):
        token = Issuer(dev_key(), "EdDSA", kid=DEV_KID).token("widgets:read")
        response = await client.get("/widgets/", headers={"Authorization": f"Bearer {token}"})
        assert response.status_code == 200
    assert (DEV_KEYS / "private.pem").stat().st_mode & 0o777 == 0o600


async def test_jwks_keys_verify_and_a_rotated_key_is_picked_up() -> None:
    """A token naming a key id the set lacks fetches the set again: the issuer's new key is found."""
    first, second = Issuer(new_key("RS256"), "RS256", kid="one"), Issuer(new_key("ES256"), "ES256", kid="two")
    with jwks_server(first) as server:
        async for client in started({"AUTH_JWKS_URL": server.url, "AUTH_JWKS_REFRESH": 0}):
            assert (await client.get("/widgets/", headers=first.headers("widgets:read"))).status_code == 200
            server.keys = [first.jwk(), second.jwk()]
            assert (await client.get("/widgets/", headers=second.headers("widgets:read"))).status_code == 200
            assert (await client.get("/widgets/", headers=first.headers("widgets:read"))).status_code == 200
            assert server.fetches == 2


async def test_jwks_keys_held_still_verify_while_the_issuer_is_down() -> None:
    """Once the set is stale and the issuer answers 503, the keys held still verify; the failure is logged."""
    issuer = Issuer(new_key("EdDSA"), "EdDSA", kid="one")
    with jwks_server(issuer) as server:
        async for client in started({"AUTH_JWKS_URL": server.url, "AUTH_JWKS_TTL": 1, "AUTH_JWKS_REFRESH": 0}):
            assert (await client.get("/widgets/", headers=issuer.headers("widgets:read"))).status_code == 200
            server.down = True
            time.sleep(1.1)  # the set's TTL passes
            assert (await client.get("/widgets/", headers=issuer.headers("widgets:read"))).status_code == 200
            assert server.fetches == 2  # it did try
            unknown = Issuer(new_key("EdDSA"), "EdDSA", kid="two").headers("widgets:read")
            assert (await client.get("/widgets/", headers=unknown)).status_code == 401


async def test_unknown_key_ids_fetch_the_jwks_at_most_once_per_interval() -> None:
    """A flood of made-up key ids cannot make the service hammer its issuer."""
    issuer = Issuer(new_key("EdDSA"), "EdDSA", kid="one")
    with jwks_server(issuer) as server:
        async for client in started({"AUTH_JWKS_URL": server.url, "AUTH_JWKS_REFRESH": 60}):
            assert (await client.get("/widgets/", headers=issuer.headers("widgets:read"))).status_code == 200
            for kid in ("a", "b", "c", "d"):
                made_up = Issuer(issuer.key, "EdDSA", kid=kid).headers("widgets:read")
                assert (await client.get("/widgets/", headers=made_up)).status_code == 401
            assert server.fetches == 1


async def test_an_unreachable_jwks_is_a_401_not_a_crash() -> None:
    issuer = Issuer(new_key("EdDSA"), "EdDSA", kid="one")
    with jwks_server(issuer) as server:
        url = server.url
    async for client in started({"AUTH_JWKS_URL": url}):
        response = await client.get("/widgets/", headers=issuer.headers("widgets:read"))
        await assert_problem(response, 401, "The bearer token is not valid.")
