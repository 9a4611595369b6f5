"""`make token`: a development token that the development settings, and only they, trust."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import jwt
import pytest
from cryptography.hazmat.primitives.serialization import load_pem_public_key

from myservice.settings import ENV_PREFIX, SERVICE

from .helpers import REPO, make


@pytest.fixture(name="project")
def _project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A working directory with the development settings, as a fresh clone has, and no service variables
    (the service's tests trust their own issuer through them, when both suites run in one session)."""
    for name in [name for name in os.environ if name.startswith(ENV_PREFIX)]:
        monkeypatch.delenv(name)
    shutil.copy(REPO / "settings.yml", tmp_path / "settings.yml")
    return tmp_path


def test_make_token_mints_a_short_lived_token_signed_by_a_key_made_on_first_use(project: Path) -> None:
    result = make(project, "-s", "token", "SCOPES=widgets:read  widgets:write", "SUBJECT=alice")
    assert result.returncode == 0, result.stderr
    token = result.stdout.strip()
    public = load_pem_public_key((project / "instance" / "dev-keys" / "public.pem").read_bytes())
    claims = jwt.decode(token, public, algorithms=["EdDSA"], audience=SERVICE, issuer="dev")  # type: ignore[arg-type]
    assert (claims["sub"], claims["scope"], claims["exp"] - claims["iat"]) == (
        "alice",
        "widgets:read widgets:write",
        3600,
    )
    assert jwt.get_unverified_header(token)["kid"] == "dev"
    assert (project / "instance" / "dev-keys" / "private.pem").stat().st_mode & 0o777 == 0o600
    again = make(project, "-s", "token", "SCOPES=widgets:read").stdout.strip()
    # Signed by the same key: made once.
    jwt.decode(again, public, algorithms=["EdDSA"], audience=SERVICE, issuer="dev")  # type: ignore[arg-type]


def test_make_token_without_scopes_says_how(project: Path) -> None:
    result = make(project, "-s", "token")
    assert result.returncode == 2
    assert 'token: name the scopes to grant: make token SCOPES="orders:read orders:write"' in result.stderr


def test_make_token_warns_when_the_settings_do_not_trust_the_key(project: Path) -> None:
    (project / "settings.yml").write_text("LOG_LEVEL: INFO\n")
    result = make(project, "-s", "token", "SCOPES=widgets:read")
    assert result.returncode == 0
    assert "token: the settings in effect do not trust the development key (AUTH_DEV_KEY)" in result.stderr
