"""Helpers for the tests of the template's tooling: small fake projects, copies of this repo, subprocesses."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import urllib.request
from collections.abc import Mapping, Sequence
from pathlib import Path

from myservice.tests.helpers import BIN as BIN  # re-exported: the tooling tests run its tools
from myservice.tests.helpers import free_port, get, serving
from myservice.tests.tokens import ISSUER, ISSUER_URL
from scripts.project import ProjectError, check_name, current_name, project_paths

REPO = Path(__file__).resolve().parents[2]
# Names a copy of this repo may be renamed to: free_names() keeps those the service has not taken.
# Values that would run `touch {marker}` if make or the shell read them as code: a test fills in a
# path of its own and checks that no file appeared.
HOSTILE_VALUES = (
    "x`touch {marker}`",
    "x$(touch {marker})",
    "x$(shell touch {marker})",
    "x; touch {marker}; exit 3;",
    "x' ; touch '{marker}' ; '",
    'x" ; touch "{marker}" ; "',
    "x\ntouch {marker}",
)
CANDIDATE_NAMES = ("billing", "payments", "invoices", "ledger", "shipping", "catalogue", "accounts", "refunds")


def free_names(root: Path, count: int) -> list[str]:
    """The first `count` candidate names that `make rename` accepts in `root` (whatever the service's own names)."""
    old = current_name(root)
    found = []
    for name in CANDIDATE_NAMES:
        try:
            check_name(root, old, name)
        except ProjectError:
            continue
        found.append(name)
    assert len(found) >= count, f"only {found} of {CANDIDATE_NAMES} are free names here"
    return found[:count]


def write_tree(root: Path, files: Mapping[str, str | bytes]) -> Path:
    """Write `files` (relative path -> text or bytes) below `root`, creating folders; return `root`."""
    for name, content in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content)
    return root


def snapshot(root: Path) -> dict[str, bytes]:
    """Every file below `root` (hidden and skipped folders too) by relative path, with its bytes."""
    return {path.relative_to(root).as_posix(): path.read_bytes() for path in root.rglob("*") if path.is_file()}


def text_files(root: Path) -> dict[str, str]:
    """Every UTF-8 file below `root` by relative path, with its text."""
    found = {}
    for name, data in snapshot(root).items():
        try:
            found[name] = data.decode()
        except UnicodeDecodeError:
            continue
    return found


def copy_repo(dest: Path) -> Path:
    """Copy this repository's files (tracked and untracked, not ignored; never .venv) into `dest`."""
    if (REPO / ".git").exists():
        listed = run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"], REPO).stdout
        names = [REPO / name for name in listed.split("\0") if name]
    else:
        names = project_paths(REPO)
    for path in names:
        if path.is_file():
            (dest / path.relative_to(REPO)).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(path, dest / path.relative_to(REPO))
    return dest


def run(
    command: Sequence[str], cwd: Path, env: Mapping[str, str] | None = None, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    """Run `command` in `cwd` and return what it printed, without raising on a failure."""
    # Not a sub-make of the `make test` running these tests: make's own messages say `make`, not `make[1]`.
    outer = {"MAKELEVEL", "MAKEFLAGS", "MFLAGS"}
    merged = {name: value for name, value in os.environ.items() if name not in outer} | dict(env or {})
    return subprocess.run(command, cwd=cwd, env=merged, capture_output=True, text=True, timeout=timeout, check=False)


def lent_auth(package: str, lender: str) -> dict[str, str]:
    """Files of a small project `package` that lend it the auth module and test issuer of the service `lender`."""
    return {
        f"{package}/auth.py": f"from {lender}.auth import require_scopes  # noqa: F401\n",
        f"{package}/tests/tokens.py": f"from {lender}.tests.tokens import bearer, client_with_token  # noqa: F401\n",
    }


def trusting_test_issuer(folder: Path) -> dict[str, object]:
    """Settings that trust the service's test issuer (tests/tokens.py), its public key written in `folder`."""
    key = folder / "issuer.pem"
    key.write_bytes(ISSUER.public_pem())
    return {"AUTH_PUBLIC_KEY_FILE": str(key), "AUTH_ISSUER": ISSUER_URL}


def run_project_tests(
    root: Path, *paths: str, slow: bool = False, env: Mapping[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """The project's own tests (the fast ones, or all of them), in a subprocess that imports the project's
    package from `root`; `paths` narrows them down. On SQLite unless `env` names a TEST_DATABASE_URL."""
    command = [sys.executable, "-m", "pytest", "-q", "-rA", *([] if slow else ["-m", "not slow"])]
    env = {"PYTHONPATH": str(root), "TEST_DATABASE_URL": "", **(env or {})}
    return run([*command, "-p", "no:cacheprovider", *paths], root, env=env, timeout=600)


def git_copy(dest: Path) -> Path:
    """A copy of this repository (as copy_repo makes it) that is a git repository with one commit."""
    copy_repo(dest)
    identity = ["-c", "user.name=test", "-c", "user.email=test@example.invalid"]
    for command in (["init", "-q"], ["add", "-A"], [*identity, "commit", "-q", "-m", "copy"]):
        assert run(["git", *command], dest).returncode == 0
    return dest


def git_status(root: Path) -> str:
    """What `git status --porcelain` says of `root`: empty when nothing changed since the commit."""
    return run(["git", "status", "--porcelain"], root).stdout


def postgres(statement: str) -> bool:
    """Run `statement` as user postgres on 127.0.0.1:5432 with psql; whether it worked (False: no server)."""
    if shutil.which("psql") is None:
        return False
    command = ["psql", "-h", "127.0.0.1", "-U", "postgres", "-d", "postgres", "-qAtc", statement]
    return run(command, REPO, env={"PGCONNECT_TIMEOUT": "3"}).returncode == 0


def make(root: Path, *args: str, env: Mapping[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """Run make in `root` with this test run's venv, taken as it is (no install): with `root`'s own
    Makefile if it has one (and `root` first on the path of its Pythons), else with this repo's Makefile
    and scripts."""
    venv = BIN.parent
    options = [f"VENV={venv}", "-o", str(venv / "bin/.installed"), "-o", str(venv / "bin/.package")]
    if (root / "Makefile").is_file():
        # The venv's editable install is this repo's package: the copy's own must come first.
        return run(["make", "--no-print-directory", *options, *args], root, {"PYTHONPATH": str(root), **(env or {})})
    makefile = ["-f", str(REPO / "Makefile")]
    return run(["make", "--no-print-directory", *makefile, *options, *args], root, {"PYTHONPATH": str(REPO)})


def serve_json(root: Path, app: str, path: str, token: str = "") -> tuple[int, str, object]:
    """`QUART_APP=<app> quart run` with `root` importable: GET `path` (with a bearer `token`, if given), and
    return status, content type and JSON."""
    port = free_port()
    command = [str(BIN / "quart"), "run", "--port", str(port)]
    url = f"http://127.0.0.1:{port}{path}"
    with serving(command, url, env={"QUART_APP": app, "PYTHONPATH": str(root)}, cwd=root):
        request = urllib.request.Request(url, headers={"Authorization": f"Bearer {token}"} if token else {})
        status, headers, body = get(request)
    return status, headers["content-type"], json.loads(body)


def refuses_name_as_written(project: Path, marker: Path, target: str, value: str) -> tuple[int, str]:
    """`make <target> NAME=<value>` with `value` holding code that would create `marker`: assert it ran
    nothing and changed nothing; return make's status and the first line of the error."""
    before = snapshot(project)
    result = make(project, target, f"NAME={value}")
    assert not marker.exists()
    assert snapshot(project) == before
    return result.returncode, result.stderr.splitlines()[0]
