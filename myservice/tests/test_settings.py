"""Settings: sources, their order, conversion, and the one-line errors for bad input."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path

import pytest
import yaml

from myservice import create_app
from myservice.settings import (
    ENV_PREFIX,
    SCHEMA,
    SERVICE,
    SERVICE_FIELDS,
    Entry,
    Setting,
    SettingsError,
    load_settings,
    printable,
    validate,
)

from .helpers import REPO

ASSETS = Path(__file__).parent / "assets"
DEFAULTS = {key: setting.default for key, setting in SCHEMA.items()}
FIELD_DEFAULTS = {field: setting.default for field, setting in SERVICE_FIELDS.items() if not setting.required}
TWIN_SERVICE = {"url": "http://127.0.0.1:9/api", **FIELD_DEFAULTS, "retries": 0}
TWIN_VALUES = {
    "DEBUG": True,
    "LOG_LEVEL": "WARNING",
    "MAX_CONTENT_LENGTH": 2048,
    "SERVICES": {"downstream": TWIN_SERVICE},
}


def assert_twin_values(settings: Mapping[str, object]) -> None:
    """The values held by both files in tests/assets, over the defaults."""
    assert settings == DEFAULTS | TWIN_VALUES


def test_defaults_without_any_source() -> None:
    assert load_settings(environ={}) == DEFAULTS


@pytest.mark.parametrize("name", ["settings.yml", "settings.ini"])
def test_file_as_argument(name: str) -> None:
    assert_twin_values(load_settings(ASSETS / name, environ={}))


@pytest.mark.parametrize("name", ["settings.yml", "settings.ini"])
def test_file_named_by_quart_settings(name: str) -> None:
    assert_twin_values(load_settings(environ={"QUART_SETTINGS": str(ASSETS / name)}))


def test_settings_yml_in_working_directory(tmp_path: Path) -> None:
    (tmp_path / "settings.yml").write_text((ASSETS / "settings.yml").read_text())
    assert_twin_values(load_settings(environ={}))


def test_argument_wins_over_quart_settings(tmp_path: Path) -> None:
    other = tmp_path / "other.yaml"
    other.write_text("LOG_LEVEL: ERROR\n")
    settings = load_settings(ASSETS / "settings.ini", environ={"QUART_SETTINGS": str(other)})
    assert settings["LOG_LEVEL"] == "WARNING"


def test_environment_wins_over_file() -> None:
    environ = {"QUART_SETTINGS": str(ASSETS / "settings.yml"), "MYSERVICE_LOG_LEVEL": "ERROR", "QUART_APP": "x"}
    assert load_settings(environ=environ) == DEFAULTS | TWIN_VALUES | {"LOG_LEVEL": "ERROR"}


def test_mapping_wins_over_file_and_environment() -> None:
    environ = {"QUART_SETTINGS": str(ASSETS / "settings.yml"), "MYSERVICE_DEBUG": "yes"}
    assert load_settings({"DEBUG": False}, environ=environ) == DEFAULTS | TWIN_VALUES | {"DEBUG": False}


@pytest.mark.parametrize(
    ("text", "expected"),
    [("true", True), ("TRUE", True), ("1", True), ("yes", True), ("false", False), ("0", False), ("No", False)],
)
def test_environment_boolean(text: str, expected: bool) -> None:
    assert load_settings(environ={"MYSERVICE_DEBUG": text})["DEBUG"] is expected


def test_environment_integer() -> None:
    assert load_settings(environ={"MYSERVICE_MAX_CONTENT_LENGTH": "4096"})["MAX_CONTENT_LENGTH"] == 4096


@pytest.mark.parametrize(
    ("default", "text", "expected"),
    [(1.5, "2", 2.0), (1.5, "0.25", 0.25), (["a"], '["x", "y"]', ["x", "y"]), ("s", "text", "text")],
)
def test_text_conversion_follows_default_type(default: object, text: str, expected: object) -> None:
    schema = {"KEY": Setting(default, "doc")}  # type: ignore[arg-type]  # each Value type in turn
    assert validate([Entry("KEY", text, "here", text=True)], schema) == {"KEY": expected}


@pytest.mark.parametrize(
    ("default", "text", "expected"),
    [(1.5, "fast", "a finite number"), (["a"], '"x"', "a JSON list of strings"), (["a"], "[1]", "a JSON list")],
)
def test_text_conversion_error(default: object, text: str, expected: str) -> None:
    schema = {"KEY": Setting(default, "doc")}  # type: ignore[arg-type]  # each Value type in turn
    with pytest.raises(SettingsError, match=f"here: KEY has value .*; expected {expected}"):
        validate([Entry("KEY", text, "here", text=True)], schema)


@pytest.mark.parametrize(
    ("environ", "message"),
    [
        (
            {"MYSERVICE_DEBUG": "maybe"},
            "environment variable MYSERVICE_DEBUG: DEBUG has value 'maybe'; expected a boolean",
        ),
        ({"MYSERVICE_MAX_CONTENT_LENGTH": "1MB"}, "MYSERVICE_MAX_CONTENT_LENGTH: MAX_CONTENT_LENGTH has value '1MB'"),
        ({"MYSERVICE_MAX_CONTENT_LENGTH": "0"}, "MAX_CONTENT_LENGTH has value '0'; expected an integer >= 1"),
        ({"MYSERVICE_LOG_LEVEL": "LOUD"}, "LOG_LEVEL has value 'LOUD'; expected one of DEBUG, INFO, WARNING, ERROR"),
        ({"MYSERVICE_DEBG": "1"}, "environment variable MYSERVICE_DEBG: unknown setting 'DEBG'; did you mean DEBUG?"),
    ],
)
def test_environment_error(environ: dict[str, str], message: str) -> None:
    with pytest.raises(SettingsError, match=message):
        load_settings(environ=environ)


@pytest.mark.parametrize(
    ("name", "text", "message"),
    [
        ("s.yml", "DEBUG: true\nLOG_LEVEL: LOUD\n", "s.yml line 2: LOG_LEVEL has value 'LOUD'; expected one of DEBUG"),
        ("s.yml", "DEBUG: 'yes'\n", "s.yml line 1: DEBUG has value 'yes'; expected a boolean"),
        ("s.yml", "MAX_CONTENT_LENGTH: true\n", "line 1: MAX_CONTENT_LENGTH has value True; expected an integer"),
        ("s.yml", "MAX_CONTENT_LENGTH: -5\n", "line 1: MAX_CONTENT_LENGTH has value -5; expected an integer >= 1"),
        ("s.yml", "\n\nLOG_LEVELS: INFO\n", "s.yml line 3: unknown setting 'LOG_LEVELS'; did you mean LOG_LEVEL?"),
        ("s.yml", "debug: true\n", "s.yml line 1: unknown setting 'debug'; did you mean DEBUG?"),
        ("s.yml", "NOPE: 1\n", "s.yml line 1: unknown setting 'NOPE'; expected one of DEBUG, TESTING"),
        ("s.yml", "DEBUG: true\nDEBUG: false\n", "s.yml line 2: DEBUG is set twice \\(first on .*s.yml line 1\\)"),
        ("s.yml", "DEBUG: true\n  LOG_LEVEL: [\n", "s.yml line 2: invalid YAML: mapping values are not allowed"),
        ("s.yml", "DEBUG: [\n", "s.yml line 2: invalid YAML"),
        ("s.yml", "- DEBUG\n", "s.yml line 1: expected a mapping of settings, found a seq"),
        (
            "s.yml",
            "DEBUG: !!python/object:os.system ls\n",
            "s.yml line 1: invalid YAML: could not determine a constructor",
        ),
        ("s.yaml", "LOG_LEVEL:\n  nested: INFO\n", "s.yaml line 1: LOG_LEVEL has value {'nested': 'INFO'}"),
        ("s.yml", "A: &a [x]\nDEBUG: *a\n", "s.yml line 2: invalid YAML: aliases \\(\\*name\\) are not allowed"),
        ("s.yml", "DEBUG: " + "[" * 33 + "]" * 33, "s.yml line 1: invalid YAML: values nest more than 32 levels deep"),
        ("s.yml", "DEBUG: 2024-13-01\n", "s.yml line 1: invalid YAML: cannot read this timestamp: month must be in"),
        ("s.yml", "DEBUG: true\nLOG_LEVEL: \x01\n", "s.yml line 2: invalid YAML: character #x0001 is not allowed"),
        ("s.yml", "GRACEFUL_TIMEOUT: .inf\n", "line 1: GRACEFUL_TIMEOUT has value inf; expected a finite number >= 0"),
        ("s.yml", "GRACEFUL_TIMEOUT: .nan\n", "line 1: GRACEFUL_TIMEOUT has value nan; expected a finite number"),
        (
            "s.yml",
            f"GRACEFUL_TIMEOUT: {10**400}\n",
            "GRACEFUL_TIMEOUT has value 1000000000.*\\.\\.\\.; expected a finite",
        ),
        ("s.ini", "[myservice]\nDEBUG = true\nLOG_LEVEL = LOUD\n", "s.ini line 3: LOG_LEVEL has value 'LOUD'"),
        ("s.ini", "[myservice]\nDEBUG = perhaps\n", "s.ini line 2: DEBUG has value 'perhaps'; expected a boolean"),
        ("s.ini", "[myservice]\n\nDEGUB = 1\n", "s.ini line 3: unknown setting 'DEGUB'; did you mean DEBUG?"),
        ("s.ini", "DEBUG = true\n", "s.ini line 1: invalid INI: no section header before the first setting"),
        ("s.ini", "[myservice]\nDEBUG\n", "s.ini line 2: invalid INI: a line that is neither \\[section\\] nor key"),
        ("s.cfg", "[myservice]\nDEBUG = 1\nDEBUG = 0\n", "s.cfg line 3: invalid INI: DEBUG is set twice in"),
        ("s.ini", "[myservice]\n[myservice]\n", "s.ini line 2: invalid INI: section \\[myservice\\] appears twice"),
        ("s.ini", "[other]\nDEBUG = true\n", "s.ini: no \\[myservice\\] section"),
        (
            "s.toml",
            "DEBUG = true\n",
            "s.toml: unknown settings format; expected a file ending in .yml, .yaml, .ini, .cfg",
        ),
    ],
)
def test_file_error(tmp_path: Path, name: str, text: str, message: str) -> None:
    path = tmp_path / name
    path.write_text(text)
    with pytest.raises(SettingsError, match=message):
        load_settings(path, environ={})


def test_missing_file_named_by_quart_settings(tmp_path: Path) -> None:
    missing = tmp_path / "nope.yml"
    with pytest.raises(SettingsError, match=f"{missing}: cannot read settings file: No such file or directory"):
        load_settings(environ={"QUART_SETTINGS": str(missing)})


def test_undecodable_file(tmp_path: Path) -> None:
    path = tmp_path / "s.yml"
    path.write_bytes(b"DEBUG: \xff\n")
    with pytest.raises(SettingsError, match="s.yml: cannot read settings file: 'utf-8' codec can't decode"):
        load_settings(path, environ={})


def test_empty_yaml_file_keeps_defaults(tmp_path: Path) -> None:
    path = tmp_path / "s.yml"
    path.write_text("# nothing set\n")
    assert load_settings(path, environ={}) == DEFAULTS


def test_lowercase_key_in_mapping_is_an_error() -> None:
    with pytest.raises(SettingsError, match="settings argument: unknown setting 'debug'; did you mean DEBUG?"):
        load_settings({"debug": True}, environ={})


def test_settings_error_exits_with_one_line(tmp_path: Path) -> None:
    path = tmp_path / "bad.yml"
    path.write_text("DEBUG: true\nLOG_LEVEL: LOUD\n")
    code = "from myservice import create_app; create_app()"
    env = {"PATH": "", "QUART_SETTINGS": str(path), "PYTHONPATH": str(REPO)}
    result = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=False)
    assert result.returncode == 1
    assert (
        result.stderr
        == f"{path} line 2: LOG_LEVEL has value 'LOUD'; expected one of DEBUG, INFO, WARNING, ERROR, CRITICAL\n"
    )


def test_settings_command_prints_all_settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("AUTH_PUBLIC_KEY_FILE", "AUTH_ISSUER"):  # the test issuer's, which conftest sets
        monkeypatch.delenv(f"{ENV_PREFIX}{name}")
    (tmp_path / "settings.yml").write_text("LOG_LEVEL: ERROR\n")
    result = create_app().test_cli_runner().invoke(args=["settings"])
    expected = printable(DEFAULTS | {"LOG_LEVEL": "ERROR"})  # DATABASE_URL, a secret setting, as <secret>
    assert (result.exit_code, yaml.safe_load(result.output)) == (0, expected)


def test_settings_command_prints_one_setting_as_json(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MYSERVICE_DEBUG", "yes")
    result = create_app().test_cli_runner().invoke(args=["settings", "DEBUG"])
    assert (result.exit_code, result.output) == (0, "true\n")


def test_settings_command_unknown_setting() -> None:
    result = create_app().test_cli_runner().invoke(args=["settings", "NOPE"])
    assert result.exit_code == 2
    assert "Invalid value for KEY: unknown setting 'NOPE'; expected one of DEBUG" in result.output


@pytest.fixture(name="secret")
def _secret(monkeypatch: pytest.MonkeyPatch) -> str:
    """A secret setting, API_TOKEN, added to the schema for the test, as a service would add one."""
    monkeypatch.setitem(SCHEMA, "API_TOKEN", Setting("", "Token for the partner API.", secret=True))
    return "API_TOKEN"


def test_settings_command_hides_a_secret_that_is_set(secret: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """`quart settings` shows that a secret is set, never its value."""
    monkeypatch.setenv(f"MYSERVICE_{secret}", "s3cr3t-value")
    result = create_app().test_cli_runner().invoke(args=["settings"])
    assert result.exit_code == 0
    assert yaml.safe_load(result.output)[secret] == "<secret>"
    assert "s3cr3t-value" not in result.output


def test_settings_command_shows_an_unset_secret_as_its_default(secret: str) -> None:
    """An empty secret is printed as it is: nothing is hidden, and the operator sees it is missing."""
    result = create_app().test_cli_runner().invoke(args=["settings"])
    assert (result.exit_code, yaml.safe_load(result.output)[secret]) == (0, "")


def test_settings_command_refuses_to_print_one_secret(secret: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """`quart settings API_TOKEN` says the setting is secret and prints nothing of it."""
    monkeypatch.setenv(f"MYSERVICE_{secret}", "s3cr3t-value")
    result = create_app().test_cli_runner().invoke(args=["settings", secret])
    assert result.exit_code == 2
    assert f"{secret} is a secret setting: it is never printed" in result.output
    assert "s3cr3t-value" not in result.output


def test_invalid_secret_is_not_echoed(secret: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """The one-line settings error names the key and what was expected, not the secret value."""
    monkeypatch.setitem(SCHEMA, secret, Setting(0, "A secret number.", secret=True))
    with pytest.raises(SettingsError) as raised:
        validate([Entry(secret, "hunter2", "environment variable X", text=True)])
    assert str(raised.value) == f"environment variable X: {secret} has value <secret>; expected an integer"


@pytest.mark.parametrize("text", ["inf", "-inf", "nan", "1e999", "9" * 400])
def test_non_finite_number_is_refused(text: str) -> None:
    """A number setting is finite: a server cannot wait for ever (uvicorn fails on an infinite timeout)."""
    name = "MYSERVICE_GRACEFUL_TIMEOUT"
    with pytest.raises(SettingsError) as raised:
        load_settings(environ={name: text})
    expected = f"GRACEFUL_TIMEOUT has value {clipped(text)}; expected a finite number >= 0"
    assert str(raised.value) == f"environment variable {name}: {expected}"


def test_non_finite_number_in_a_mapping_is_refused() -> None:
    """The check holds for values that are floats already, not only for text."""
    with pytest.raises(SettingsError, match="READINESS_TIMEOUT has value inf; expected a finite number >= 0.001"):
        load_settings({"READINESS_TIMEOUT": float("inf")}, environ={})


def clipped(text: str) -> str:
    """How an error message shows `text`: its repr, cut to 80 characters."""
    shown = repr(text)
    return shown if len(shown) <= 80 else shown[:77] + "..."


@pytest.mark.parametrize(
    ("name", "text"),
    [
        ("MYSERVICE_MAX_CONTENT_LENGTH", "1" * 5000),  # beyond Python's 4300 digits for int()
        ("MYSERVICE_LOG_LEVEL", "LOUD" * 100_000),
        ("MYSERVICE_CORS_ALLOWED_ORIGINS", "[" * 100_000),  # beyond the JSON parser's recursion
    ],
)
def test_long_value_is_echoed_clipped(name: str, text: str) -> None:
    """A huge value gets the usual one-line error, its echo cut to 80 characters."""
    with pytest.raises(SettingsError) as raised:
        load_settings(environ={name: text})
    message = str(raised.value)
    assert message.startswith(f"environment variable {name}: {name.removeprefix('MYSERVICE_')} has value ")
    assert f"has value {clipped(text)}; expected " in message
    assert len(message) < 250


def test_long_key_is_echoed_clipped(tmp_path: Path) -> None:
    """An unknown key of a megabyte is named by its first 80 characters."""
    path = tmp_path / "s.ini"
    path.write_text("[myservice]\n" + "K" * 1_000_000 + " = 1\n")
    with pytest.raises(SettingsError) as raised:
        load_settings(path, environ={})
    assert str(raised.value).startswith(f"{path} line 2: unknown setting {clipped('K' * 1_000_000)}; expected one of")


def test_large_file_is_refused(tmp_path: Path) -> None:
    """A settings file over 1 MiB is refused before it is parsed."""
    path = tmp_path / "s.yml"
    path.write_text("# a comment\n" * 100_000)
    with pytest.raises(SettingsError) as raised:
        load_settings(path, environ={})
    assert str(raised.value) == f"{path}: cannot read settings file: larger than 1 MiB"


def test_folder_as_settings_file_is_refused(tmp_path: Path) -> None:
    """A folder named like a settings file is not one, even as settings.yml in the working directory."""
    (tmp_path / "settings.yml").mkdir()
    with pytest.raises(SettingsError) as raised:
        load_settings(environ={})
    assert str(raised.value) == "settings.yml: cannot read settings file: not a regular file"


def hostile(tmp_path: Path, kind: str) -> Path:
    """A settings file built to stall or flood start-up."""
    path = tmp_path / "hostile.yml"
    if kind == "fifo":
        os.mkfifo(path)  # opened for reading, it would wait for ever for a writer
        return path
    nine = ", ".join(["*a"] * 9)
    texts = {
        # 350 bytes: the value expands to 9**8 strings, hundreds of megabytes when printed.
        "aliases": "a: &a [x, x, x, x, x, x, x, x, x]\n"
        + "".join(f"{x}: &{x} [{nine.replace('a', p)}]\n" for p, x in zip("abcdefg", "bcdefgh", strict=True))
        + "DEBUG: *h\n",
        "nesting": "DEBUG: " + "[" * 20_000 + "]" * 20_000 + "\n",
        "integer": "MAX_CONTENT_LENGTH: " + "1" * 5000 + "\n",
        "size": "DEBUG: true\n" + "# a comment\n" * 200_000,
    }
    path.write_text(texts[kind])
    return path


@pytest.mark.slow
@pytest.mark.parametrize(
    ("kind", "message"),
    [
        ("aliases", " line 2: invalid YAML: aliases (*name) are not allowed in a settings file"),
        ("nesting", " line 1: invalid YAML: values nest more than 32 levels deep"),
        (
            "integer",
            " line 1: invalid YAML: cannot read this int: "
            "Exceeds the limit (4300 digits) for integer string conversion: value has 5000 digits",
        ),
        ("size", ": cannot read settings file: larger than 1 MiB"),
        ("fifo", ": cannot read settings file: not a regular file"),
    ],
)
def test_hostile_settings_file_stops_start_up_with_one_line(tmp_path: Path, kind: str, message: str) -> None:
    """A file built to stall or flood start-up stops it at once: exit 1, one short line, no traceback."""
    path = hostile(tmp_path, kind)
    result = start_app({"QUART_SETTINGS": str(path)}, timeout=30)
    assert (result.returncode, result.stderr) == (1, f"{path}{message}\n")


def start_app(environ: Mapping[str, str], timeout: float = 60) -> subprocess.CompletedProcess[str]:
    """Run `create_app()` in a fresh Python with only `environ` (and the package) in its environment."""
    code = "from myservice import create_app; create_app()"
    env = {"PATH": "", "PYTHONPATH": str(REPO), **environ}
    return subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=timeout, check=False
    )


def test_service_fields_take_their_defaults() -> None:
    """A service given only its url has every other field at its default, in the fields' order."""
    services = load_settings({"SERVICES": {"search": {"url": "https://search"}}}, environ={})["SERVICES"]
    assert services == {"search": {"url": "https://search", **FIELD_DEFAULTS}}
    assert list(services["search"]) == list(SERVICE_FIELDS)


def test_environment_sets_one_field_of_a_service_in_the_file() -> None:
    """NAME__FIELD in a variable changes that field of that service; the file gives the rest."""
    environ = {"QUART_SETTINGS": str(ASSETS / "settings.yml"), f"{ENV_PREFIX}SERVICES__DOWNSTREAM__TIMEOUT": "2.5"}
    assert load_settings(environ=environ)["SERVICES"] == {"downstream": TWIN_SERVICE | {"timeout": 2.5}}


def test_environment_adds_a_service_field_by_field() -> None:
    """Variables may add a service the file lacks, given its url."""
    environ = {
        "QUART_SETTINGS": str(ASSETS / "settings.ini"),
        f"{ENV_PREFIX}SERVICES__SEARCH__RETRIES": "5",
        f"{ENV_PREFIX}SERVICES__SEARCH__URL": "http://search:8000",
    }
    services = load_settings(environ=environ)["SERVICES"]
    assert services == {
        "downstream": TWIN_SERVICE,
        "search": {"url": "http://search:8000", **FIELD_DEFAULTS, "retries": 5},
    }


def test_environment_json_replaces_the_services_of_the_file() -> None:
    """The whole mapping as JSON replaces the file's, as any setting does; a field variable then applies over it."""
    environ = {
        "QUART_SETTINGS": str(ASSETS / "settings.yml"),
        f"{ENV_PREFIX}SERVICES": '{"search": {"url": "http://search"}}',
        f"{ENV_PREFIX}SERVICES__SEARCH__CONNECT_TIMEOUT": "0.25",
    }
    services = load_settings(environ=environ)["SERVICES"]
    assert services == {"search": {"url": "http://search", **FIELD_DEFAULTS, "connect_timeout": 0.25}}


def test_ini_sets_a_service_field_by_key(tmp_path: Path) -> None:
    """In an INI file a key SERVICES__<name>__<field> sets one field, over the JSON value above it."""
    path = tmp_path / "s.ini"
    path.write_text(f'[{SERVICE}]\nSERVICES = {{"a": {{"url": "http://a"}}}}\nSERVICES__a__read_timeout = 0.5\n')
    assert load_settings(path, environ={})["SERVICES"] == {
        "a": {"url": "http://a", **FIELD_DEFAULTS, "read_timeout": 0.5}
    }


def test_settings_file_defaults_are_not_changed_by_a_field_variable() -> None:
    """Setting a field makes new mappings: the schema's default and the file's value stay as they were."""
    load_settings(environ={f"{ENV_PREFIX}SERVICES__A__URL": "http://a"})
    assert SCHEMA["SERVICES"].default == {}
    assert load_settings(environ={})["SERVICES"] == {}


YAML_SERVICE = "DEBUG: true\nSERVICES:\n  downstream:\n    url: http://downstream:8000\n"


@pytest.mark.parametrize(
    ("name", "text", "message"),
    [
        (
            "s.yml",
            YAML_SERVICE + "    timeout: -1\n",
            "s.yml line 5: SERVICES.downstream.timeout has value -1; expected a finite number >= 0.001",
        ),
        (
            "s.yml",
            YAML_SERVICE + "    uri: x\n",
            "s.yml line 5: SERVICES.downstream has an unknown field 'uri'; did you mean url?",
        ),
        (
            "s.yml",
            YAML_SERVICE + "    retries: 1.5\n",
            "s.yml line 5: SERVICES.downstream.retries has value 1.5; expected an integer >= 0",
        ),
        (
            "s.yml",
            YAML_SERVICE + "    retries: -1\n",
            "s.yml line 5: SERVICES.downstream.retries has value -1; expected an integer >= 0",
        ),
        (
            "s.yml",
            YAML_SERVICE + "    timeout: .inf\n",
            "line 5: SERVICES.downstream.timeout has value inf; expected a finite",
        ),
        (
            "s.yml",
            YAML_SERVICE + "    url: http://x\n",
            "s.yml line 5: SERVICES.downstream.url is set twice \\(first on .*s.yml line 4\\)",
        ),
        (
            "s.yml",
            YAML_SERVICE + "  Downstream:\n    url: x\n",
            "s.yml line 5: SERVICES has a name 'Downstream'; expected lowercase letters",
        ),
        (
            "s.yml",
            "SERVICES:\n  downstream: http://downstream\n",
            "s.yml line 2: SERVICES.downstream has value 'http://downstream'; expected a mapping of url,",
        ),
        (
            "s.yml",
            "SERVICES:\n  downstream:\n    timeout: 3\n",
            "s.yml line 2: SERVICES.downstream has no url; expected the service's base URL",
        ),
        (
            "s.yml",
            "SERVICES:\n  - downstream\n",
            "s.yml line 1: SERVICES has value \\['downstream'\\]; expected a mapping of names",
        ),
        (
            "s.yml",
            "SERVICES:\n  downstream:\n    url: ftp://downstream\n",
            "s.yml line 3: SERVICES.downstream.url has value <secret>: it is not an http:// or https:// URL",
        ),
        (
            "s.yml",
            "SERVICES:\n  a:\n    url: http://a:99999\n",
            "s.yml line 3: SERVICES.a.url has value <secret>: it is not an http",
        ),
        (
            "s.yml",
            "SERVICES:\n  a:\n    url: http://a/?x=1\n",
            "s.yml line 3: SERVICES.a.url has value <secret>: a base URL has no query",
        ),
        (
            "s.ini",
            f'[{SERVICE}]\nDEBUG = true\nSERVICES = {{"a": {{"url": "http://a", "timeout": 0}}}}\n',
            "s.ini line 3: SERVICES.a.timeout has value 0; expected a finite number >= 0.001",
        ),
        (
            "s.ini",
            f'[{SERVICE}]\nSERVICES = {{"a": \n',
            "s.ini line 2: SERVICES has value '{\"a\":'; expected a JSON object of names",
        ),
        (
            "s.ini",
            f"[{SERVICE}]\nSERVICES__a__timeout = soon\n",
            "s.ini line 2: SERVICES.a.timeout has value 'soon'; expected a finite number",
        ),
        ("s.ini", f"[{SERVICE}]\nSERVICES__a__timeout = 1\n", "s.ini line 2: SERVICES.a has no url"),
    ],
)
def test_services_file_error(tmp_path: Path, name: str, text: str, message: str) -> None:
    """A mistake in a service is one line naming the file, the line, the service and the field."""
    path = tmp_path / name
    path.write_text(text)
    with pytest.raises(SettingsError, match=message):
        load_settings(path, environ={})


@pytest.mark.parametrize(
    ("variable", "value", "message"),
    [
        ("SERVICES__SEARCH__TIMEOUT", "2", "SERVICES.search has no url; expected the service's base URL"),
        ("SERVICES__SEARCH__TIMOUT", "2", "SERVICES.search has an unknown field 'timout'; did you mean timeout?"),
        ("SERVICES__SEARCH__URL", "search:8000", "SERVICES.search.url has value <secret>: it is not an http"),
        (
            "SERVICES__SEARCH",
            "http://search",
            "SERVICES__SEARCH names no field of a record; expected SERVICES__<NAME>__<FIELD>",
        ),
        ("SERVICES___SEARCH__URL", "http://search", "SERVICES___SEARCH__URL names no field of a record"),
        ("SERVICES", "[]", "SERVICES has value '\\[\\]'; expected a JSON object of names"),
        (
            "SERVICES",
            '{"a": {"url": "http://user:pw@a"}}',
            "SERVICES.a.url has value <secret>: a URL holding credentials is refused",
        ),
        ("DEBUG__X", "1", "unknown setting 'DEBUG__X'; did you mean DEBUG\\?"),
    ],
)
def test_services_environment_error(variable: str, value: str, message: str) -> None:
    """A variable that names a service wrongly, or gives a bad value, is one line naming it."""
    with pytest.raises(SettingsError, match=f"^environment variable {ENV_PREFIX}{variable}: {message}"):
        load_settings(environ={f"{ENV_PREFIX}{variable}": value})


def test_service_url_with_credentials_is_not_echoed() -> None:
    """The url field is never echoed in an error: it might hold a password."""
    with pytest.raises(SettingsError) as raised:
        load_settings({"SERVICES": {"a": {"url": "http://user:hunter2@a"}}}, environ={})
    assert "hunter2" not in str(raised.value)


def test_settings_command_prints_the_services(monkeypatch: pytest.MonkeyPatch) -> None:
    """`quart settings` prints each service with all its fields; `quart settings SERVICES` as JSON."""
    monkeypatch.setenv(f"{ENV_PREFIX}SERVICES__SEARCH__URL", "http://search:8000")
    expected = {"search": {"url": "http://search:8000", **FIELD_DEFAULTS}}
    runner = create_app().test_cli_runner()
    result = runner.invoke(args=["settings"])
    assert (result.exit_code, yaml.safe_load(result.output)["SERVICES"]) == (0, expected)
    result = runner.invoke(args=["settings", "SERVICES"])
    assert (result.exit_code, json.loads(result.output)) == (0, expected)
