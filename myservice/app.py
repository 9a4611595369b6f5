"""The application factory."""

from __future__ import annotations

from collections.abc import Iterable

from quart import Blueprint, Quart

from myservice.settings import SERVICE, Source, load_settings, settings_command
from myservice.views import find_blueprints


def create_app(name: str = SERVICE, blueprints: Iterable[Blueprint] | None = None, settings: Source = None) -> Quart:
    """Build the service.

    `settings` is a YAML/INI file, or a mapping applied over the file and the environment;
    `blueprints` defaults to every blueprint found in the views package.
    """
    app = Quart(name, static_folder=None)
    app.config.update(load_settings(settings))
    app.logger.setLevel(app.config["LOG_LEVEL"])
    app.cli.add_command(settings_command)
    for blueprint in find_blueprints() if blueprints is None else blueprints:
        app.register_blueprint(blueprint)
    return app
