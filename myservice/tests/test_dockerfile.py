"""The Dockerfile: its Python is a tested one, its final stage, its CMD and HEALTHCHECK run as the image would,
and the package it builds migrates a database from the files it copies."""

from __future__ import annotations

import configparser
import json
import re
import shlex
import shutil
import sqlite3
import subprocess
import sys
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml
from alembic.config import Config as AlembicConfig
from alembic.script import ScriptDirectory

from myservice.settings import ENV_PREFIX, SERVICE

from .helpers import BIN, MIGRATE_JOB, REPO, free_port, pod, serving

Stage = list[tuple[str, str]]


@dataclass
class ImageFiles:
    """The image's files, rebuilt here: the package as the builder installs it, and the final stage's WORKDIR."""

    site: Path
    workdir: Path


def supported_pythons() -> list[str]:
    """The Python versions setup.py's classifiers name: the one list the Dockerfile and CI follow."""
    return re.findall(r'"Programming Language :: Python :: (3\.\d+)"', (REPO / "setup.py").read_text())


def stages() -> list[Stage]:
    """Each stage's instructions as (INSTRUCTION, arguments), continuation lines joined, FROM first."""
    text = re.sub(r"\\\n\s*", "", (REPO / "Dockerfile").read_text())
    lines = [line.split(None, 1) for line in text.splitlines() if line.strip() and not line.startswith("#")]
    instructions = [(name.upper(), arguments) for name, arguments in lines]
    starts = [i for i, (name, _) in enumerate(instructions) if name == "FROM"]
    return [instructions[start:end] for start, end in zip(starts, [*starts[1:], len(instructions)], strict=True)]


def final_stage() -> Stage:
    """The final stage's instructions."""
    return stages()[-1]


def copied(stage: Stage) -> list[tuple[list[str], str]]:
    """The stage's COPY instructions from the build context (not from another stage): (sources, destination)."""
    found = []
    for name, args in stage:
        if name == "COPY" and not args.startswith("--from="):
            *sources, destination = args.split()
            found.append((sources, destination))
    return found


def copied_into_workdir() -> set[str]:
    """The files the final stage copies from the build context into its WORKDIR itself."""
    return {
        source for sources, destination in copied(final_stage()) if destination in {".", "./"} for source in sources
    }


def copy_as_the_stage(stage: Stage, workdir: Path) -> None:
    """Copy the repository's files as the stage's COPY instructions do, into `workdir` (the stage's WORKDIR)."""
    for sources, destination in copied(stage):
        target = workdir / destination
        for source in sources:
            if (REPO / source).is_dir():  # COPY dir/ dest/ copies what dir holds
                shutil.copytree(REPO / source, target, ignore=shutil.ignore_patterns("__pycache__"), dirs_exist_ok=True)
            else:
                target.mkdir(parents=True, exist_ok=True)
                shutil.copy(REPO / source, target)


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
    assert arguments("WORKDIR") == ["/app"]
    assert "settings.prod.yml" in copied_into_workdir()
    assert "/healthz" in healthcheck()[-1]


def test_runs_as_the_pods_non_root_user() -> None:
    user = pod()["securityContext"]
    assert arguments("USER") == [f"{user['runAsUser']}:{user['runAsGroup']}"]
    assert user["runAsUser"] != 0


def test_context_leaves_out_local_state() -> None:
    """The build context has no repository, virtualenv, cache, test or local database."""
    ignored = set((REPO / ".dockerignore").read_text().splitlines())
    local = {".git", ".venv", ".venv-*", "instance", "**/__pycache__", ".pytest_cache", ".mypy_cache"}
    assert local | {f"{SERVICE}/tests"} <= ignored


def test_workdir_holds_the_alembic_config_of_the_installed_package() -> None:
    """alembic.ini is copied into WORKDIR, and finds the migrations in the package wherever it is installed."""
    assert "alembic.ini" in copied_into_workdir()
    config = configparser.ConfigParser(interpolation=None)
    config.read(REPO / "alembic.ini")
    assert config["alembic"]["script_location"] == f"{SERVICE}:migrations"


@pytest.fixture(name="image_files", scope="module")
def _image_files(tmp_path_factory: pytest.TempPathFactory) -> ImageFiles:
    """The package built from the builder stage's files (non-editable, offline), and the final stage's WORKDIR files."""
    root = tmp_path_factory.mktemp("image")
    source, site, workdir = root / "src", root / "site", root / "app"
    builder, final = stages()[0], final_stage()
    copy_as_the_stage(builder, source)
    copy_as_the_stage(final, workdir)
    pip = [sys.executable, "-m", "pip", "install", "--quiet", "--disable-pip-version-check", "--no-deps"]
    offline = ["--no-index", "--no-build-isolation"]  # the pinned setuptools of requirements-dev.txt builds it
    build = subprocess.run(
        [*pip, *offline, "--target", str(site), str(source)], capture_output=True, text=True, timeout=120, check=False
    )
    assert build.returncode == 0, build.stdout + build.stderr
    return ImageFiles(site, workdir)


def migrate_as_the_image(files: ImageFiles, url: str) -> subprocess.CompletedProcess[str]:
    """Run the migration Job's command in the image's WORKDIR, with the image's env, the built package and `url`."""
    env = image_env()
    settings = Path(env["QUART_SETTINGS"]).relative_to(arguments("WORKDIR")[0])
    env |= {
        "PATH": str(BIN),
        "PYTHONPATH": str(files.site),  # ahead of .venv's site-packages, so ahead of its editable install
        "QUART_SETTINGS": str(files.workdir / settings),
        f"{ENV_PREFIX}DATABASE_URL": url,
    }
    (job,) = pod(MIGRATE_JOB)["containers"]
    return subprocess.run(
        job["command"], cwd=files.workdir, env=env, capture_output=True, text=True, timeout=60, check=False
    )


def files_under(folder: Path) -> set[Path]:
    """The files under `folder`, relative to it, without bytecode caches."""
    return {
        path.relative_to(folder) for path in folder.rglob("*") if path.is_file() and "__pycache__" not in path.parts
    }


@pytest.mark.slow
def test_image_files_migrate_a_database(image_files: ImageFiles, tmp_path: Path) -> None:
    """The built package holds every migration, and the Job's command from WORKDIR brings a database to the head."""
    migrations = Path(SERVICE, "migrations")
    assert files_under(image_files.site / migrations) == files_under(REPO / migrations)
    database = tmp_path / "image.sqlite"
    result = migrate_as_the_image(image_files, f"sqlite:///{database}")
    assert result.returncode == 0, result.stdout + result.stderr
    with closing(sqlite3.connect(database)) as connection:
        versions = {row[0] for row in connection.execute("SELECT version_num FROM alembic_version")}
    assert versions == set(ScriptDirectory.from_config(AlembicConfig(REPO / "alembic.ini")).get_heads())


@pytest.mark.slow
def test_image_files_hold_the_docs_page_script(image_files: ImageFiles) -> None:
    """The built package holds the docs page's own script (package data); Swagger UI's files are flask-swagger-ui's."""
    script = Path(SERVICE, "docs_page.js")
    assert (image_files.site / script).read_bytes() == (REPO / script).read_bytes()


@pytest.mark.slow
def test_image_migration_of_an_unreachable_database_fails_in_one_line(image_files: ImageFiles) -> None:
    """The Job's command exits non-zero with one FAILED line that hides the database's password."""
    password, port = "never-printed", free_port()
    result = migrate_as_the_image(image_files, f"postgresql://app:{password}@127.0.0.1:{port}/app")
    assert result.returncode != 0
    (line,) = (result.stdout + result.stderr).splitlines()
    assert line.startswith("FAILED: ")
    assert (f"127.0.0.1:{port}" in line, password in line) == (True, False)


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
