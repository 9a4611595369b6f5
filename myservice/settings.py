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
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import cast
from urllib.parse import SplitResult, urlsplit

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

Scalar = bool | int | float | str
Records = dict[str, dict[str, Scalar]]  # the value of a mapping setting (SERVICES): name -> record
Value = Scalar | list[str] | Records
Source = str | os.PathLike[str] | Mapping[str, object] | None
# A name in a mapping setting (a service's): also a metric label and a part of a variable's name, where
# "__" separates the parts (MYSERVICE_SERVICES__<NAME>__<FIELD>), so single underscores only.
NAME = re.compile(r"[a-z][a-z0-9]*(_[a-z0-9]+)*")
NAME_RULE = "lowercase letters and digits, single underscores between them, a letter first"


@dataclass(frozen=True)
class Setting:
    """A setting's default (which also fixes its type), documentation and allowed values.

    A secret setting (a password, a URL with one in it) is never printed: not by `quart settings`,
    not in an error message. `check` says what else is wrong with a value of the right type, or None.
    A mapping setting has `fields`: it maps names to records of those fields, each a Setting of its
    own; a `required` field has no default (its default only fixes its type).
    """

    default: Value
    doc: str
    choices: tuple[str, ...] = ()
    minimum: float | None = None
    secret: bool = False
    check: Callable[[Value], str | None] | None = None
    fields: Mapping[str, Setting] | None = None
    required: bool = False


def split_url(value: Value) -> SplitResult:
    """The parts of a URL; all empty if it is malformed (a port that is not a number from 0 to 65535, too)."""
    try:
        parts = urlsplit(str(value))
        parts.port  # noqa: B018  # raises ValueError on a bad port
    except ValueError:
        parts = urlsplit("")
    return parts


def check_service_url(value: Value) -> str | None:
    """Why `value` is not a service's base URL, or None."""
    parts = split_url(value)
    if parts.scheme not in ("http", "https") or not parts.hostname or any(c.isspace() for c in str(value)):
        return "it is not an http:// or https:// URL with a host, such as http://name:8000"
    if parts.username is not None:
        return "a URL holding credentials is refused; send them in a header, from a secret setting"
    if parts.query or parts.fragment:
        return "a base URL has no query or fragment"
    return None


# A rate limit as settings and routes write it: requests per period, "100/minute" (see limits.py).
RATE_LIMIT = re.compile(r"\s*([1-9][0-9]{0,8})\s*/\s*(second|minute|hour|day)\s*")
PERIODS = {"second": 1, "minute": 60, "hour": 3600, "day": 86400}


def check_rate_limit(value: Value) -> str | None:
    """Why `value` is not a rate limit such as 100/minute, or None."""
    if RATE_LIMIT.fullmatch(str(value)) is None:
        return "expected <requests>/<period>, a whole number from 1 and second, minute, hour or day: 100/minute"
    return None


def check_storage_url(value: Value) -> str | None:
    """Why `value` is neither empty (memory) nor a Redis URL with a host, or None."""
    parts = split_url(value)
    if value and (parts.scheme not in ("redis", "rediss") or not parts.hostname or " " in str(value)):
        return "expected nothing (each worker's memory) or redis://[:password@]host[:port][/db] (or rediss://)"
    if value and parts.path.strip("/") and not parts.path.strip("/").isdigit():
        return "the path of a Redis URL is a database number, such as /0"
    return None


def check_optional_url(value: Value) -> str | None:
    """Why `value` is neither empty nor an http(s) URL with a host, or None."""
    parts = split_url(value)
    if value and (parts.scheme not in ("http", "https") or not parts.netloc or parts.username is not None):
        return "it is not an http:// or https:// URL with a host and no credentials"
    return None


# The fields of each service in SERVICES (see myservice.client and docs/services.md).
SERVICE_FIELDS = {
    # Secret: never echoed in an error, as it might hold a password (which it refuses).
    "url": Setting("", "the service's base URL", secret=True, check=check_service_url, required=True),
    "connect_timeout": Setting(1.0, "seconds to open a connection", minimum=0.001),
    "read_timeout": Setting(5.0, "seconds to wait for each part of an answer", minimum=0.001),
    "timeout": Setting(10.0, "seconds a call may take in all, retries included", minimum=0.001),
    "retries": Setting(2, "attempts after the first, when retrying is safe", minimum=0),
    # A token for the service's routes (docs/services.md): a static one, or client credentials.
    "token": Setting("", "a bearer token sent on every call", secret=True),
    "token_url": Setting("", "the token endpoint of the client-credentials grant", check=check_optional_url),
    "client_id": Setting("", "the client id of the client-credentials grant"),
    "client_secret": Setting("", "the client secret of the client-credentials grant", secret=True),
    "scope": Setting("", "the scopes to ask for, space-separated"),
    "audience": Setting("", "the audience to ask for (the service's AUTH_AUDIENCE), if the issuer takes one"),
}


# Asymmetric JWT algorithms only: a service verifies with public keys; `none` and HS* (shared secrets) never.
AUTH_ALGORITHMS = ("RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA")


def check_algorithms(value: Value) -> str | None:
    """Why `value` is not a non-empty list of asymmetric JWT algorithms, or None."""
    wrong = [name for name in value if name not in AUTH_ALGORITHMS] if isinstance(value, list) else []
    if not value or wrong:
        return f"expected a non-empty list of {', '.join(AUTH_ALGORITHMS)}" + (f"; not {wrong}" if wrong else "")
    return None


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
    "RATE_LIMIT_DEFAULT": Setting(
        "100/minute",
        "Requests a caller may send to a route that declares no limit: 100/minute.",
        check=check_rate_limit,
    ),
    "RATE_LIMIT_STORAGE_URL": Setting(
        "",
        "Where counts are kept: empty, each worker's memory; redis://host:port/db, shared.",
        secret=True,
        check=check_storage_url,
    ),
    "RATE_LIMIT_TRUSTED_HOPS": Setting(
        0, "Proxies that append to X-Forwarded-For; 0: the caller is the socket's peer.", minimum=0
    ),
    "RATE_LIMIT_ON_STORAGE_ERROR": Setting(
        "open", "If Redis fails: open lets requests through, closed answers 503.", ("open", "closed")
    ),
    "SERVICES": Setting({}, "Other services this one calls: name -> url and limits.", fields=SERVICE_FIELDS),
    "AUTH_ISSUER": Setting("", "The `iss` every bearer token must name; required with a key source."),
    "AUTH_AUDIENCE": Setting(SERVICE, "The `aud` every bearer token must name: this service."),
    "AUTH_JWKS_URL": Setting("", "The issuer's JWKS (its public keys), fetched and cached.", check=check_optional_url),
    "AUTH_PUBLIC_KEY_FILE": Setting("", "A PEM file holding the issuer's public key (instead of, or with, a JWKS)."),
    "AUTH_DEV_KEY": Setting(False, "Trust the local development key (instance/dev-keys/, made by `make token`)."),
    "AUTH_KEYS_REQUIRED": Setting(False, "Refuse to start when a route requires scopes and no key source is set."),
    "AUTH_ALGORITHMS": Setting(["RS256", "ES256", "EdDSA"], "JWT algorithms accepted.", check=check_algorithms),
    "AUTH_LEEWAY": Setting(30.0, "Seconds of clock skew allowed on `exp`, `nbf` and `iat`.", minimum=0),
    "AUTH_JWKS_TTL": Setting(300.0, "Seconds the JWKS is used before it is fetched again.", minimum=1),
    "AUTH_JWKS_REFRESH": Setting(30.0, "Seconds at least between two fetches of the JWKS.", minimum=0),
    "AUTH_MAX_TOKEN_BYTES": Setting(8192, "Longest bearer token accepted, in bytes.", minimum=64),
}


def load_settings(source: Source = None, environ: Mapping[str, str] = os.environ) -> dict[str, Value]:
    """Return the effective settings: defaults, then the settings file, then env, then a mapping."""
    settings = {key: copy.copy(setting.default) for key, setting in SCHEMA.items()}
    path = environ.get("QUART_SETTINGS") if source is None or isinstance(source, Mapping) else source
    if path is None and os.path.lexists(DEFAULT_FILE):  # whatever it is: a folder or a FIFO is refused
        path = DEFAULT_FILE
    if path is not None:
        settings.update(validate(read_file(Path(path), SERVICE), base=settings))
    settings.update(validate(read_env(environ, ENV_PREFIX), base=settings))
    if isinstance(source, Mapping):
        entries = (Entry(key, value, "settings argument") for key, value in source.items())
        settings.update(validate(entries, base=settings))
    return settings


def validate(
    entries: Iterable[Entry], schema: Mapping[str, Setting] = SCHEMA, base: Mapping[str, Value] | None = None
) -> dict[str, Value]:
    """Check every entry's key, type and range; raise SettingsError naming the first bad one.

    A key KEY__NAME__FIELD (the variable MYSERVICE_SERVICES__ORDERS__URL) sets one field of one
    record of a mapping setting, over the value `base` (or an earlier entry) gives it; a record it
    adds needs its required fields.
    """
    checked: dict[str, Value] = {}
    added: dict[tuple[str, str], str] = {}  # (key, name) of a record added field by field -> where
    for entry in entries:
        key, _, path = entry.key.partition("__")
        setting = schema.get(key if path else entry.key)
        if setting is None or (path and setting.fields is None):
            close = difflib.get_close_matches(entry.key.upper(), schema, n=1)
            hint = f"did you mean {close[0]}?" if close else "expected one of " + ", ".join(schema)
            raise SettingsError(f"{entry.where}: unknown setting {clip(repr(entry.key))}; {hint}")
        if path and setting.fields is not None:
            records = cast(Records, checked.get(key, (base or {}).get(key, setting.default)))
            checked[key] = _set_field(entry, path.lower(), records, setting.fields, added)
        else:
            checked[entry.key] = _check(entry, setting)
    for (key, name), where in added.items():
        records = cast(Records, checked[key])
        records[name] = _complete(where, f"{key}.{name}", records[name], schema[key].fields or {})
    return checked


def _check(entry: Entry, setting: Setting) -> Value:
    """Convert (for text sources) and check one value against its setting."""
    if setting.fields is not None:
        return _check_records(entry, setting.fields)
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


def _check_records(entry: Entry, fields: Mapping[str, Setting]) -> Records:
    """A mapping setting's whole value (a JSON object in text): each name and record checked, defaults added."""
    try:
        value = json.loads(str(entry.value)) if entry.text else entry.value
    except (ValueError, RecursionError):
        value = None
    if not isinstance(value, dict):
        kind = "a JSON object" if entry.text else "a mapping"
        raise SettingsError(f"{entry.where}: {entry.key} has value {shown(entry.value)}; expected {kind} of names")
    records = {}
    for name, record in value.items():
        where = entry.within.get((str(name),), entry.where)
        if not isinstance(name, str) or not NAME.fullmatch(name):
            raise SettingsError(f"{where}: {entry.key} has a name {shown(name)}; expected {NAME_RULE}")
        if not isinstance(record, dict):
            expected = "a mapping of " + ", ".join(fields)
            raise SettingsError(f"{where}: {entry.key}.{name} has value {shown(record)}; expected {expected}")
        given = {str(field): _check_field(entry, name, str(field), item, fields) for field, item in record.items()}
        records[name] = _complete(where, f"{entry.key}.{name}", given, fields)
    return records


def _check_field(
    entry: Entry, name: str, field: str, value: object, fields: Mapping[str, Setting], text: bool = False
) -> Scalar:
    """Field `field` of the record `name` in the setting `entry` is for, checked against its Setting."""
    where = entry.within.get((name, field), entry.where)
    record = f"{entry.key.partition('__')[0]}.{name}"
    if field not in fields:
        close = difflib.get_close_matches(field.lower(), fields, n=1)
        hint = f"did you mean {close[0]}?" if close else "expected one of " + ", ".join(fields)
        raise SettingsError(f"{where}: {record} has an unknown field {clip(repr(field))}; {hint}")
    return cast(Scalar, _check(Entry(f"{record}.{field}", value, where, text), fields[field]))


def _set_field(
    entry: Entry, path: str, records: Records, fields: Mapping[str, Setting], added: dict[tuple[str, str], str]
) -> Records:
    """A copy of `records` with the one field that `entry` names by `path` (NAME__FIELD) set."""
    name, _, field = path.partition("__")
    key = entry.key.partition("__")[0]
    if not NAME.fullmatch(name) or not field:
        raise SettingsError(
            f"{entry.where}: {clip(entry.key)} names no field of a record; expected {key}__<NAME>__<FIELD>"
        )
    if name not in records:
        added.setdefault((key, name), entry.where)
    value = _check_field(entry, name, field, entry.value, fields, entry.text)
    return records | {name: records.get(name, {}) | {field: value}}


def _complete(where: str, record: str, given: dict[str, Scalar], fields: Mapping[str, Setting]) -> dict[str, Scalar]:
    """A record with every field, in the fields' order: the defaults where none was given."""
    for field, setting in fields.items():
        if setting.required and field not in given:
            raise SettingsError(f"{where}: {record} has no {field}; expected {setting.doc}")
    return {field: given.get(field, cast(Scalar, setting.default)) for field, setting in fields.items()}


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


# Secret fields that `quart settings` prints all the same: a service's url is secret in error messages only,
# as it cannot hold credentials (check_service_url refuses them) and operators need to see where calls go.
PRINTED_FIELDS = frozenset({"url"})


def _hidden(setting: Setting, field: str, value: object) -> bool:
    return setting.secret and bool(value) and field not in PRINTED_FIELDS


def printable(settings: Mapping[str, Value]) -> dict[str, Value]:
    """The settings with each secret one that is set shown as HIDDEN, and each secret field of a record (a
    service's url, token, client_secret): what may be printed or logged."""
    shown = {key: HIDDEN if SCHEMA[key].secret and value else value for key, value in settings.items()}
    for key, value in shown.items():
        if (fields := SCHEMA[key].fields) is not None and isinstance(value, dict):
            shown[key] = {
                name: {field: HIDDEN if _hidden(fields[field], field, item) else item for field, item in record.items()}
                for name, record in value.items()
            }
    return shown
