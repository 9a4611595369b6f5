"""Settings: built-in defaults < a YAML or INI file < MYSERVICE_* variables < a mapping.

Every source is read to entries (key, value, where it came from; see `myservice.settings_sources`)
that go through `validate`, the one place that checks keys, types and ranges.
"""

from __future__ import annotations

import copy
import difflib
import json
import math
import os
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

import click
import yaml

# Entry and SettingsError are part of this module's interface too (re-exported).
from myservice.database import check_url
from myservice.settings_sources import Entry as Entry
from myservice.settings_sources import SettingsError as SettingsError
from myservice.settings_sources import clip, read_env, read_file, shown

SERVICE = "myservice"
ENV_PREFIX = SERVICE.upper() + "_"
DEFAULT_FILE = "settings.yml"
HIDDEN = "<secret>"  # what is printed for a secret setting's value
BOOLEANS = {"true": True, "1": True, "yes": True, "false": False, "0": False, "no": False}

Value = bool | int | float | str | list[str]
Source = str | os.PathLike[str] | Mapping[str, object] | None


@dataclass(frozen=True)
class Setting:
    """A setting's default (which also fixes its type), documentation and allowed values.

    A secret setting (a password, a URL with one in it) is never printed: not by `quart settings`,
    not in an error message. `check` says what else is wrong with a value of the right type, or None.
    """

    default: Value
    doc: str
    choices: tuple[str, ...] = ()
    minimum: float | None = None
    secret: bool = False
    check: Callable[[Value], str | None] | None = None


SCHEMA: dict[str, Setting] = {
    "DEBUG": Setting(False, "Quart debug mode; never on in production."),
    "TESTING": Setting(False, "Quart testing mode: exceptions reach the test client."),
    "LOG_LEVEL": Setting("INFO", "Level of every logger.", ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")),
    "LOG_FORMAT": Setting("text", "Log lines as text, or one JSON object per line.", ("text", "json")),
    "MAX_CONTENT_LENGTH": Setting(1024 * 1024, "Largest request body accepted, in bytes.", minimum=1),
    "CORS_ALLOWED_ORIGINS": Setting([], 'Origins allowed by CORS, e.g. ["https://app.example.com"]; none: CORS off.'),
    "READINESS_TIMEOUT": Setting(
        2.0, "Seconds each readiness check may take before it counts as failed.", minimum=0.001
    ),
    "GRACEFUL_TIMEOUT": Setting(20.0, "Seconds the server lets in-flight requests finish after SIGTERM.", minimum=0),
    "API_DOCS": Setting(True, "Serve the API docs UI at /docs; /openapi.json is served either way."),
    "DATABASE_URL": Setting(
        f"sqlite:///instance/{SERVICE}.sqlite",
        "The database: postgresql://user:password@host:port/name (asyncpg), or sqlite:///path (aiosqlite).",
        secret=True,
        check=check_url,
    ),
    "DATABASE_POOL_SIZE": Setting(5, "Connections each worker process keeps open to the database.", minimum=1),
    "DATABASE_MAX_OVERFLOW": Setting(10, "Connections a worker may open beyond the pool when it is busy.", minimum=0),
    "DATABASE_POOL_TIMEOUT": Setting(
        5.0, "Seconds a request waits for a free connection before it is answered 503.", minimum=0.001
    ),
    "DATABASE_CONNECT_TIMEOUT": Setting(5.0, "Seconds a new PostgreSQL connection may take to open.", minimum=0.001),
    "DATABASE_STATEMENT_TIMEOUT": Setting(
        30.0, "Seconds any statement may run on PostgreSQL (on SQLite: may wait for a lock).", minimum=0.001
    ),
}


def load_settings(source: Source = None, environ: Mapping[str, str] = os.environ) -> dict[str, Value]:
    """Return the effective settings: defaults, then the settings file, then env, then a mapping."""
    settings = {key: copy.copy(setting.default) for key, setting in SCHEMA.items()}
    path = environ.get("QUART_SETTINGS") if source is None or isinstance(source, Mapping) else source
    if path is None and os.path.lexists(DEFAULT_FILE):  # whatever it is: a folder or a FIFO is refused
        path = DEFAULT_FILE
    if path is not None:
        settings.update(validate(read_file(Path(path), SERVICE)))
    settings.update(validate(read_env(environ, ENV_PREFIX)))
    if isinstance(source, Mapping):
        settings.update(validate(Entry(key, value, "settings argument") for key, value in source.items()))
    return settings


def validate(entries: Iterable[Entry], schema: Mapping[str, Setting] = SCHEMA) -> dict[str, Value]:
    """Check every entry's key, type and range; raise SettingsError naming the first bad one."""
    checked = {}
    for entry in entries:
        setting = schema.get(entry.key)
        if setting is None:
            close = difflib.get_close_matches(entry.key.upper(), schema, n=1)
            hint = f"did you mean {close[0]}?" if close else "expected one of " + ", ".join(schema)
            raise SettingsError(f"{entry.where}: unknown setting {clip(repr(entry.key))}; {hint}")
        checked[entry.key] = _check(entry, setting)
    return checked


def _check(entry: Entry, setting: Setting) -> Value:
    """Convert (for text sources) and check one value against its setting."""
    expected = _expected(setting)
    try:
        value = _convert(entry.value, setting.default) if entry.text else entry.value
    except (ValueError, RecursionError):  # RecursionError: JSON nested thousands deep
        value = None
    ok = _has_type(value, setting.default) and (not setting.choices or value in setting.choices)
    if ok and setting.minimum is not None:
        ok = value >= setting.minimum  # type: ignore[operator]  # numeric, checked by _has_type
    found = HIDDEN if setting.secret else shown(entry.value)
    if not ok:
        raise SettingsError(f"{entry.where}: {entry.key} has value {found}; expected {expected}")
    if setting.check is not None and (why := setting.check(value)) is not None:  # type: ignore[arg-type]
        raise SettingsError(f"{entry.where}: {entry.key} has value {found}: {why}")
    return value  # type: ignore[return-value]  # checked by _has_type above


def _expected(setting: Setting) -> str:
    """Say in words what a setting accepts."""
    if setting.choices:
        return "one of " + ", ".join(setting.choices)
    kind = {bool: "a boolean (true/false/1/0/yes/no)", int: "an integer", float: "a finite number", str: "a string"}
    words = kind.get(type(setting.default), "a JSON list of strings")
    return words if setting.minimum is None else f"{words} >= {setting.minimum:g}"


def _convert(text: object, default: Value) -> object:
    """Turn a string from an INI file or the environment into the type of `default`."""
    assert isinstance(text, str)
    if isinstance(default, bool):
        return BOOLEANS.get(text.strip().lower(), text)
    if isinstance(default, int):
        return int(text)
    if isinstance(default, float):
        return float(text)
    if isinstance(default, list):
        return json.loads(text)
    return text


def _has_type(value: object, default: Value) -> bool:
    """Whether `value` has the type of `default` (bool is not an int; an int is a float)."""
    if isinstance(default, bool) or isinstance(value, bool):
        return type(value) is type(default)
    if isinstance(default, float):  # not nan or inf: a server cannot wait for ever
        return isinstance(value, int | float) and _finite(value)
    if isinstance(default, list):
        return isinstance(value, list) and all(isinstance(item, str) for item in value)
    return isinstance(value, type(default))


def _finite(number: float) -> bool:
    """Whether `number` is a float other than nan and infinity (an int too large for a float is not)."""
    try:
        return math.isfinite(number)
    except OverflowError:
        return False


@click.command("settings")
@click.argument("key", required=False)
def settings_command(key: str | None) -> None:
    """Print the effective settings as YAML, or one setting's value as JSON."""
    # Read afresh rather than from app.config: loading the app for the CLI resets DEBUG to QUART_DEBUG.
    settings = printable(load_settings())
    if key is None:
        click.echo(yaml.safe_dump(settings, sort_keys=False), nl=False)
    elif key not in settings:
        raise click.BadParameter(f"unknown setting {key!r}; expected one of {', '.join(settings)}", param_hint="KEY")
    elif SCHEMA[key].secret:
        raise click.BadParameter(f"{key} is a secret setting: it is never printed", param_hint="KEY")
    else:
        click.echo(json.dumps(settings[key]))


def printable(settings: Mapping[str, Value]) -> dict[str, Value]:
    """The settings with each secret one that is set shown as HIDDEN: what may be printed or logged."""
    return {key: HIDDEN if SCHEMA[key].secret and value else value for key, value in settings.items()}
