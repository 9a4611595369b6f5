"""The application factory."""

from __future__ import annotations

from collections.abc import Iterable

from quart import Blueprint, Quart

from myservice import (
    api,
    auth,
    client,
    database,
    errors,
    limits,
    logs,
    metrics,
    middleware,
    readiness,
    routing,
    security,
    server,
    tracing,
)
from myservice.settings import SERVICE, Source, settings_command
from myservice.views import find_blueprints


def create_app(name: str = SERVICE, blueprints: Iterable[Blueprint] | None = None, settings: Source = None) -> Quart:
    """Build the service.

    `settings` is a YAML/INI file, or a mapping applied over the file and the environment;
    `blueprints` defaults to every blueprint found in the views package.
    """
    app = Quart(name, static_folder=None)
    routing.init_app(app)
    app.config.update(server.app_settings(settings))
    logs.init_app(app)
    metrics.init_app(app)
    security.init_app(app)
    auth.init_app(app)
    limits.init_app(app)
    readiness.init_app(app)
    database.init_app(app)
    client.init_app(app)
    api.init_app(app)
    errors.init_app(app)
    middleware.init_app(app)
    tracing.init_app(app)
    for blueprint in find_blueprints() if blueprints is None else blueprints:
        app.register_blueprint(blueprint)
    auth.check_keys(app)
    app.cli.add_command(settings_command)
    return app
