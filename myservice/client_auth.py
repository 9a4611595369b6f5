"""The token a call to another service carries: a static one from SERVICES, or one obtained by the OAuth 2
client-credentials grant (RFC 6749 4.4) from the issuer's token URL, kept until shortly before it expires.
See docs/services.md.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping

import httpx

from myservice.settings import Scalar, SettingsError

EARLY = 30.0  # seconds before its expiry that a token is replaced: it must not expire on the way
DEFAULT_LIFETIME = 300.0  # seconds, for a token endpoint that does not say (expires_in is optional)


class TokenError(Exception):
    """The token endpoint could not be reached, or did not give a token."""


def check_credentials(name: str, record: Mapping[str, Scalar]) -> None:
    """Raise a SettingsError if a service's record sets a token in two ways, or client credentials half-way."""
    if record["token"] and record["token_url"]:
        raise SettingsError(f"SERVICES.{name} sets both token and token_url; expected one of them")
    if record["token_url"] and not (record["client_id"] and record["client_secret"]):
        raise SettingsError(f"SERVICES.{name} sets token_url without client_id and client_secret")


class ClientCredentials:
    """Tokens from a token endpoint: fetched when needed, one fetch at a time, kept until EARLY before expiry."""

    def __init__(self, client: httpx.AsyncClient, record: Mapping[str, Scalar], timeout: httpx.Timeout) -> None:
        self.client, self.timeout = client, timeout
        self.url = str(record["token_url"])
        self.auth = httpx.BasicAuth(str(record["client_id"]), str(record["client_secret"]))  # RFC 6749 2.3.1
        form = {"grant_type": "client_credentials", "scope": record["scope"], "audience": record["audience"]}
        self.form = {key: str(value) for key, value in form.items() if value}
        self.token, self.expires = "", 0.0
        self.lock = asyncio.Lock()

    async def header(self) -> str:
        """The Authorization header: the token held, or a new one."""
        async with self.lock:
            if time.monotonic() >= self.expires - EARLY:
                await self.fetch()
        return f"Bearer {self.token}"

    def forget(self) -> None:
        """Drop the token held (the service refused it): the next call fetches another."""
        self.expires = 0.0

    async def fetch(self) -> None:
        """Ask the token endpoint for a token; a TokenError if that fails."""
        try:
            response = await self.client.post(self.url, data=self.form, auth=self.auth, timeout=self.timeout)
            response.raise_for_status()
            body = response.json()
            token, lifetime = body["access_token"], float(body.get("expires_in", DEFAULT_LIFETIME))
        except (httpx.HTTPError, ValueError, KeyError, TypeError) as error:
            raise TokenError(repr(error)) from error
        if not isinstance(token, str) or not token:
            raise TokenError("the answer has no access_token")
        self.token, self.expires = token, time.monotonic() + lifetime
