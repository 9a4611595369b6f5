"""Mint a development token: `python3 -m scripts.token` (what `make token` runs).

    make token SCOPES="orders:read orders:write" [SUBJECT=alice]

prints a bearer token for `curl -H "Authorization: Bearer $(make -s token SCOPES=...)"` or the docs
UI's Authorize button: signed by the local development key (made on first use in instance/dev-keys/,
which git ignores), for the issuer and audience of the settings in effect (settings.yml), granting
SCOPES to SUBJECT (default "developer") for LIFETIME seconds. Only settings that trust the development
key (AUTH_DEV_KEY, which settings.yml sets and settings.prod.yml never does) accept it.
"""

from __future__ import annotations

import importlib
import os
import sys
import time
from pathlib import Path

import jwt

from scripts.project import current_name

LIFETIME = 3600  # seconds: an hour of work, then mint another


def mint(scopes: str, subject: str, root: Path) -> str:
    """A token for `subject` granting `scopes` from the development key and settings of the working directory,
    for the package of the project at `root`."""
    package = current_name(root)
    settings = importlib.import_module(f"{package}.settings").load_settings()
    auth_keys = importlib.import_module(f"{package}.auth_keys")
    if not settings["AUTH_DEV_KEY"]:
        print("token: the settings in effect do not trust the development key (AUTH_DEV_KEY)", file=sys.stderr)
    now = int(time.time())
    claims = {"iss": settings["AUTH_ISSUER"], "aud": settings["AUTH_AUDIENCE"], "sub": subject, "scope": scopes}
    claims |= {"iat": now, "exp": now + LIFETIME}
    return jwt.encode(claims, auth_keys.dev_key(), algorithm="EdDSA", headers={"kid": auth_keys.DEV_KID})


def main() -> int:
    """Print a token for SCOPES and SUBJECT from the environment, or one line saying why not."""
    scopes = " ".join(os.environ.get("SCOPES", "").split())
    subject = os.environ.get("SUBJECT") or "developer"
    if not scopes:
        print('token: name the scopes to grant: make token SCOPES="orders:read orders:write"', file=sys.stderr)
        return 2
    print(mint(scopes, subject, Path(__file__).resolve().parents[1]))  # the project these scripts belong to
    return 0


if __name__ == "__main__":
    sys.exit(main())
