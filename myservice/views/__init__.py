"""The views: one module per blueprint, found by `find_blueprints`."""

from __future__ import annotations

import importlib
import pkgutil

from quart import Blueprint


def find_blueprints(package: str = __name__) -> list[Blueprint]:
    """Import every module of `package` and return the blueprints defined in them, by module name."""
    found: dict[str, Blueprint] = {}
    modules = pkgutil.iter_modules(importlib.import_module(package).__path__)
    for module_info in sorted(modules, key=lambda info: info.name):
        module_name = f"{package}.{module_info.name}"
        try:
            module = importlib.import_module(module_name)
        except Exception as exc:
            raise ImportError(f"views module {module_name} failed to import: {exc!r}") from exc
        for blueprint in vars(module).values():
            # Only blueprints defined here: one imported from a sibling would be counted twice.
            if isinstance(blueprint, Blueprint) and blueprint.import_name == module_name:
                if blueprint.name in found:
                    other = found[blueprint.name].import_name
                    raise ImportError(f"blueprint name {blueprint.name!r} is used by both {other} and {module_name}")
                found[blueprint.name] = blueprint
    return list(found.values())
