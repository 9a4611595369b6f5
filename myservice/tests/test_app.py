"""The application factory."""

from __future__ import annotations

import logging
import subprocess
import sys
from pathlib import Path

import pytest
from quart import Blueprint

from myservice import create_app
from myservice.auth import public
from myservice.settings import SettingsError
from myservice.views import find_blueprints

from .helpers import REPO


def test_create_app_without_arguments() -> None:
    app = create_app()
    assert app.name == "myservice"
    assert list(app.blueprints) == [blueprint.name for blueprint in find_blueprints()]
    assert app.config["DEBUG"] is False
    assert app.config["MAX_CONTENT_LENGTH"] == 1024 * 1024


def test_no_static_route() -> None:
    app = create_app()
    assert "static" not in {rule.endpoint for rule in app.url_map.iter_rules()}


async def test_explicit_blueprints_are_exactly_those() -> None:
    extra = Blueprint("extra", __name__)

    @extra.get("/extra")
    @public
    async def get_extra() -> dict[str, str]:
        return {"extra": "yes"}

    app = create_app(blueprints=[extra])
    assert list(app.blueprints) == ["extra"]
    async with app.test_app():
        client = app.test_client()
        assert (await client.get("/")).status_code == 404
        response = await client.get("/extra")
        assert (response.status_code, await response.get_json()) == (200, {"extra": "yes"})


def test_settings_file_argument(tmp_path: Path) -> None:
    path = tmp_path / "service.ini"
    path.write_text("[myservice]\nDEBUG = yes\nLOG_LEVEL = ERROR\n")
    app = create_app(settings=path)
    assert app.debug is True
    assert app.logger.getEffectiveLevel() == logging.ERROR


def test_settings_mapping_applies_over_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MYSERVICE_LOG_LEVEL", "ERROR")
    monkeypatch.setenv("MYSERVICE_MAX_CONTENT_LENGTH", "10")
    app = create_app(settings={"LOG_LEVEL": "DEBUG"})
    assert (app.config["LOG_LEVEL"], app.config["MAX_CONTENT_LENGTH"]) == ("DEBUG", 10)
    assert app.logger.getEffectiveLevel() == logging.DEBUG


def test_quart_app_is_not_taken_for_a_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("QUART_APP", "myservice")
    assert "APP" not in create_app().config


def test_invalid_settings_stop_create_app() -> None:
    with pytest.raises(SettingsError, match="settings argument: unknown setting 'NOPE'"):
        create_app(settings={"NOPE": 1})


def test_import_reads_no_settings(tmp_path: Path) -> None:
    (tmp_path / "settings.yml").write_text("NOT: [valid\n")
    env = {"PATH": "", "QUART_SETTINGS": str(tmp_path / "missing.yml"), "PYTHONPATH": str(REPO)}
    code = "import myservice.app, myservice.views; print('imported')"
    result = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env=env, capture_output=True, text=True)
    assert (result.returncode, result.stdout, result.stderr) == (0, "imported\n", "")
