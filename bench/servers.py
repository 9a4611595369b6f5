"""Start the service or the bare app exactly as `make serve` would, and time how fast it comes up."""

from __future__ import annotations

import os
import shlex
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path

from myservice.settings import ENV_PREFIX

REPO = Path(__file__).resolve().parents[1]
SERVICE_APP = "'myservice:create_app()'"
# What each target serves in place of SERVICE_APP, by (bare, database).
APPS = {
    (False, False): SERVICE_APP,
    (True, False): "'bench.bare:create_app()'",
    (False, True): "'bench.resource:create_app()'",
    (True, True): "'bench.bare_database:create_app()'",
}
# What a target of the rate limits lane serves, by store (see bench/limits.py).
LIMITS_APPS = {"memory": "'bench.limits:create_app()'", "redis": "'bench.limits:create_redis_app()'"}
STARTUP_SECONDS = 30
# The service's default rate limit, out of the load generator's reach: its cost is measured, not its 429s.
UNREACHABLE_LIMIT = {"MYSERVICE_RATE_LIMIT_DEFAULT": "999999999/second"}


@dataclass(frozen=True)
class Target:
    """One server serving one app: the full skeleton or the bare baseline, plus a database resource or not."""

    server: str
    bare: bool
    database: bool = False
    limits: str = ""  # the rate limits lane's store, memory or redis

    @property
    def name(self) -> str:
        """E.g. "hypercorn skeleton", "hypercorn bare + asyncpg"."""
        kind = "bare" if self.bare else "skeleton"
        if self.database:
            kind += " + asyncpg" if self.bare else " + SQLAlchemy"
        if self.limits:
            kind += f" + limits in {self.limits}"
        return f"{self.server} {kind}"

    @property
    def app(self) -> str:
        """The app string its server line names (quoted for the shell)."""
        return LIMITS_APPS[self.limits] if self.limits else APPS[self.bare, self.database]


KEYS_REQUIRED = f"{ENV_PREFIX}AUTH_KEYS_REQUIRED"


def serve_line(target: Target, port: int) -> str:
    """The shell line `make serve SERVER=...` runs (asked of make itself), serving the target's app."""
    make = ["make", "--no-print-directory", "--dry-run", "serve", f"SERVER={target.server}", f"PORT={port}"]
    make.append(f"VENV={sys.prefix}")  # the venv running this script, as `make bench` runs it
    line = subprocess.run(make, cwd=REPO, capture_output=True, text=True, check=True, timeout=30).stdout
    line = line.strip().splitlines()[-1]
    if SERVICE_APP not in line:
        raise RuntimeError(f"make serve no longer serves {SERVICE_APP}: {line}")
    return line.replace(SERVICE_APP, target.app)


@dataclass(frozen=True)
class Running:
    """A started server process and when it was started (time.monotonic)."""

    process: subprocess.Popen[bytes]
    started_at: float


@contextmanager
def started(
    target: Target, port: int, env: dict[str, str], pin: list[str], wrapper: Sequence[str] = ()
) -> Iterator[Running]:
    """Run the target in its own process group (logs to a temp file) and kill the group afterwards;
    `wrapper` is a command that runs the server (valgrind)."""
    line = serve_line(target, port)
    if wrapper:
        line = line.replace(" exec ", f" exec {shlex.join(wrapper)} ", 1)
    with tempfile.TemporaryFile() as log:
        started_at = time.monotonic()
        process = subprocess.Popen(
            [*pin, "sh", "-c", line],
            cwd=REPO,
            # The line reads PORT from env. The bench calls public routes only: a service whose routes need tokens
            # starts without a key source (production settings would refuse to, see docs/auth.md).
            env={**os.environ, **env, "HOST": "127.0.0.1", "PORT": str(port), KEYS_REQUIRED: "false"},
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        try:
            yield Running(process, started_at)
        except Exception:
            log.seek(0)
            print(f"--- {target.name} printed:\n{log.read()[-3000:].decode(errors='replace')}", file=sys.stderr)
            raise
        finally:
            with suppress(ProcessLookupError):  # it may have exited already
                os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=STARTUP_SECONDS)


def wait_until_up(running: Running, url: str, seconds: float = STARTUP_SECONDS) -> float:
    """Poll `url` until it answers 200: the seconds since the server started. Bounded by `seconds`."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if running.process.poll() is not None:
            raise RuntimeError(f"the server exited with status {running.process.returncode}")
        with suppress(OSError), urllib.request.urlopen(url, timeout=1) as response:
            if response.status == 200:
                return time.monotonic() - running.started_at
        time.sleep(0.01)
    raise RuntimeError(f"no answer from {url} within {seconds} s")


def cold_start(target: Target, port: int, env: dict[str, str], pin: list[str]) -> float:
    """Seconds from starting the target's process to its first 200 on /healthz."""
    with started(target, port, env, pin) as running:
        return wait_until_up(running, f"http://127.0.0.1:{port}/healthz")
