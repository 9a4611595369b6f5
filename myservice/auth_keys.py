"""Where the keys that verify bearer tokens come from: a public key file, the local development key,
and the issuer's JWKS (fetched with httpx, cached for AUTH_JWKS_TTL, fetched again at most once per
AUTH_JWKS_REFRESH when a token names a key id it lacks, and kept while the issuer is down).
"""

from __future__ import annotations

import asyncio
import logging
import math
import os
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import cast, get_args

import httpx
import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from jwt.algorithms import AllowedPublicKeys

from myservice.settings import SERVICE, SettingsError, Value

logger = logging.getLogger(__name__)
DEV_KEYS = Path("instance") / "dev-keys"  # relative to the working directory, as the default database; git-ignored
DEV_KID = "dev"  # the key id of tokens `make token` mints
JWKS_TIMEOUT = httpx.Timeout(2.0)  # a token waits for a JWKS fetch at most this long


def dev_key(folder: Path = DEV_KEYS) -> Ed25519PrivateKey:
    """The local development key, made on first use: private.pem (readable by its owner only) and public.pem."""
    private = folder / "private.pem"
    if not private.exists():
        folder.mkdir(parents=True, exist_ok=True)
        key = Ed25519PrivateKey.generate()
        pem = key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
        descriptor = os.open(private, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(descriptor, "wb") as file:
            file.write(pem)
        public = key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        (folder / "public.pem").write_bytes(public)
    loaded = serialization.load_pem_private_key(private.read_bytes(), password=None)
    if not isinstance(loaded, Ed25519PrivateKey):
        raise SettingsError(f"{private} is not an Ed25519 private key: remove the folder {folder} to make a new one")
    return loaded


def read_public_key(path: str) -> AllowedPublicKeys:
    """The public key in the PEM file `path`; a SettingsError in one line when it cannot be read."""
    try:
        key = serialization.load_pem_public_key(Path(path).read_bytes())
    except (OSError, ValueError) as error:
        why = error.strerror if isinstance(error, OSError) else "it holds no PEM public key"
        raise SettingsError(f"AUTH_PUBLIC_KEY_FILE {path[:200]!r} cannot be used: {why}") from None
    if not isinstance(key, get_args(AllowedPublicKeys)):
        raise SettingsError(f"AUTH_PUBLIC_KEY_FILE {path[:200]!r} holds no RSA, EC, Ed25519 or Ed448 public key")
    return cast(AllowedPublicKeys, key)


@dataclass
class JWKS:
    """The issuer's keys by key id, from its JWKS URL, refreshed as the module docstring says."""

    url: str
    ttl: float
    refresh: float
    client: httpx.AsyncClient
    keys: dict[str, jwt.PyJWK] = field(default_factory=dict)
    fetched: float = -math.inf  # time.monotonic() of the last good fetch
    tried: float = -math.inf  # and of the last attempt
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)

    async def key(self, kid: str) -> jwt.PyJWK | None:
        """The key `kid`, fetching the set first when it is stale or lacks it (and may be fetched again)."""
        if self._due(kid):
            async with self.lock:  # one fetch for every request waiting on it
                if self._due(kid):
                    await self.fetch()
        return self.keys.get(kid)

    def _due(self, kid: str) -> bool:
        now = time.monotonic()
        stale = now - self.fetched >= self.ttl or kid not in self.keys
        return stale and now - self.tried >= self.refresh

    async def fetch(self) -> None:
        """Fetch the set; on any failure keep the keys held (the issuer may be down briefly) and log why."""
        self.tried = time.monotonic()
        try:
            response = await self.client.get(self.url, timeout=JWKS_TIMEOUT)
            response.raise_for_status()
            keys = jwt.PyJWKSet.from_dict(response.json()).keys
        except (httpx.HTTPError, ValueError, jwt.PyJWTError) as error:
            logger.warning("JWKS fetch failed, %d keys kept: %r", len(self.keys), error)
            return
        self.keys = {key.key_id: key for key in keys if key.key_id}
        self.fetched = self.tried


@dataclass
class Keys:
    """Every key source the settings give: keys held by id ("" for a file's key, which has none) and a JWKS."""

    static: dict[str, AllowedPublicKeys]
    jwks: JWKS | None

    async def key(self, kid: str | None) -> AllowedPublicKeys | jwt.PyJWK | None:
        """The key that verifies a token naming `kid` (or no key id), or None."""
        if kid is not None and kid in self.static:
            return self.static[kid]
        if kid is not None and self.jwks is not None:
            return await self.jwks.key(kid)
        return self.static.get("")

    @property
    def empty(self) -> bool:
        """Whether no source is set: no token can be verified."""
        return not self.static and self.jwks is None


def static_keys(config: Mapping[str, Value]) -> dict[str, AllowedPublicKeys]:
    """The keys held by id that `config` sets: read now, so that a bad file stops the start."""
    static: dict[str, AllowedPublicKeys] = {}
    if config["AUTH_PUBLIC_KEY_FILE"]:
        static[""] = read_public_key(str(config["AUTH_PUBLIC_KEY_FILE"]))
    if config["AUTH_DEV_KEY"]:
        static[DEV_KID] = dev_key().public_key()
    return static


def open_jwks(config: Mapping[str, Value]) -> JWKS | None:
    """The JWKS that `config` names, with an HTTP client of its own (closed by `close`), or None."""
    if not config["AUTH_JWKS_URL"]:
        return None
    client = httpx.AsyncClient(trust_env=False, headers={"User-Agent": SERVICE})  # no proxy variables, no .netrc
    ttl, refresh = float(str(config["AUTH_JWKS_TTL"])), float(str(config["AUTH_JWKS_REFRESH"]))
    return JWKS(str(config["AUTH_JWKS_URL"]), ttl, refresh, client)
