"""The Dockerfile: its Python is a tested one, its final stage, and its CMD and HEALTHCHECK run as the image would."""

from __future__ import annotations

import json
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from .helpers import BIN, REPO, free_port, pod, serving


def supported_pythons() -> list[str]:
    """The Python versions setup.py's classifiers name: the one list the Dockerfile and CI follow."""
    return re.findall(r'"Programming Language :: Python :: (3\.\d+)"', (REPO / "setup.py").read_text())


def final_stage() -> list[tuple[str, str]]:
    """The final stage's instructions as (INSTRUCTION, arguments), continuation lines joined."""
    text = re.sub(r"\\\n\s*", "", (REPO / "Dockerfile").read_text())
    lines = [line.split(None, 1) for line in text.splitlines() if line.strip() and not line.startswith("#")]
    instructions = [(name.upper(), arguments) for name, arguments in lines]
    start = max(i for i, (name, _) in enumerate(instructions) if name == "FROM")
    return instructions[start:]


def arguments(name: str) -> list[str]:
    """The arguments of each of the final stage's `name` instructions."""
    return [arguments for found, arguments in final_stage() if found == name]


def image_env() -> dict[str, str]:
    """The final stage's ENV variables."""
    pairs = [pair.split("=", 1) for name, args in final_stage() if name == "ENV" for pair in shlex.split(args)]
    return dict(pairs)


def healthcheck() -> list[str]:
    """The HEALTHCHECK's command (exec form)."""
    (check,) = arguments("HEALTHCHECK")
    command: list[str] = json.loads(check.partition(" CMD ")[2])
    return command


def test_base_image_is_a_supported_python() -> None:
    """The image runs a Python that CI tests."""
    (version,) = re.findall(r"^ARG PYTHON_IMAGE=\S*python:(3\.\d+)\b", (REPO / "Dockerfile").read_text(), re.M)
    assert version in supported_pythons()


def test_ci_matrix_tests_every_supported_python() -> None:
    """The workflow's matrix is exactly the supported Pythons, as strings (unquoted YAML reads 3.10 as 3.1)."""
    workflow = yaml.safe_load((REPO / ".github" / "workflows" / "ci.yml").read_text())
    (job,) = workflow["jobs"].values()
    assert job["strategy"]["matrix"]["python-version"] == supported_pythons()


def test_python_requires_is_the_oldest_supported_python() -> None:
    """pip refuses the Pythons older than the oldest one tested, and no older one is claimed."""
    oldest = min(supported_pythons(), key=lambda version: tuple(map(int, version.split("."))))
    assert f'python_requires=">={oldest}"' in (REPO / "setup.py").read_text()


def test_runs_hypercorn_with_the_production_config() -> None:
    """The image runs what `make serve` runs: Hypercorn's workers under the service's supervisor."""
    assert [json.loads(cmd) for cmd in arguments("CMD")] == [
        ["python", "-m", "myservice.supervisor", "myservice:create_app()"]
    ]
    env = image_env()
    assert (env["PORT"], env["WORKERS"], env["QUART_SETTINGS"]) == ("8000", "1", "/app/settings.prod.yml")
    assert arguments("EXPOSE") == [env["PORT"]]
    assert (arguments("WORKDIR"), "settings.prod.yml ./" in arguments("COPY")) == (["/app"], True)
    assert "/healthz" in healthcheck()[-1]


def test_runs_as_the_pods_non_root_user() -> None:
    user = pod()["securityContext"]
    assert arguments("USER") == [f"{user['runAsUser']}:{user['runAsGroup']}"]
    assert user["runAsUser"] != 0


def test_context_leaves_out_local_state() -> None:
    ignored = set((REPO / ".dockerignore").read_text().splitlines())
    assert {".git", ".venv", "**/__pycache__", ".pytest_cache", ".mypy_cache", "myservice/tests"} <= ignored


@pytest.mark.slow
@pytest.mark.parametrize("root_path", ["", "/api"])
def test_healthcheck_passes_while_the_command_serves(tmp_path: Path, root_path: str) -> None:
    port = free_port()
    here = {  # what differs from the image: this venv, a free port on 127.0.0.1, the repo's settings file
        "ROOT_PATH": root_path,
        "PATH": str(BIN),
        "HOST": "127.0.0.1",
        "PORT": str(port),
        "QUART_SETTINGS": str(REPO / "settings.prod.yml"),
    }
    env = image_env() | here
    command = [sys.executable, *json.loads(arguments("CMD")[0])[1:]]
    with serving(command, f"http://127.0.0.1:{port}{root_path}/healthz", env=env, cwd=tmp_path):
        assert _check(env) == 0
    assert _check(env) == 1


def _check(env: dict[str, str]) -> int:
    """Run the HEALTHCHECK command with this Python: its exit status."""
    command = [sys.executable, *healthcheck()[1:]]
    return subprocess.run(command, env=env, capture_output=True, timeout=10, check=False).returncode
