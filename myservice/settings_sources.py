"""Settings sources: a YAML or INI file and the environment, read into entries that know where they
came from (file and line, or variable). `myservice.settings` checks and combines them."""

from __future__ import annotations

import configparser
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import yaml

YAML_SUFFIXES = (".yml", ".yaml")
INI_SUFFIXES = (".ini", ".cfg")


class SettingsError(SystemExit):
    """A settings source is unusable.

    A SystemExit, so that every entry point (`quart run`, `hypercorn`, `python -c`) stops with
    this one-line message and exit status 1 instead of a traceback.
    """


@dataclass(frozen=True)
class Entry:
    """One raw value and where it came from; `text` values still need converting."""

    key: str
    value: object
    where: str
    text: bool = False


def read_env(environ: Mapping[str, str], prefix: str) -> list[Entry]:
    """Entries from `<prefix><KEY>` environment variables (MYSERVICE_DEBUG ...)."""
    return [
        Entry(name.removeprefix(prefix), value, f"environment variable {name}", text=True)
        for name, value in sorted(environ.items())
        if name.startswith(prefix)
    ]


def read_file(path: Path, section: str) -> list[Entry]:
    """Entries from a YAML or INI settings file, each knowing its line."""
    if path.suffix not in YAML_SUFFIXES + INI_SUFFIXES:
        suffixes = ", ".join(YAML_SUFFIXES + INI_SUFFIXES)
        raise SettingsError(f"{path}: unknown settings format; expected a file ending in {suffixes}")
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise SettingsError(f"{path}: cannot read settings file: {getattr(exc, 'strerror', None) or exc}") from None
    return read_yaml(path, text) if path.suffix in YAML_SUFFIXES else read_ini(path, text, section)


def read_yaml(path: Path, text: str) -> list[Entry]:
    """Entries from a YAML mapping, loaded safely; a key set twice is an error."""
    loader = yaml.SafeLoader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return []
        if not isinstance(node, yaml.MappingNode):
            where, found = f"{path} line {node.start_mark.line + 1}", node.tag.rpartition(":")[2]
            raise SettingsError(f"{where}: expected a mapping of settings, found a {found}")
        entries: dict[str, Entry] = {}
        for key_node, value_node in node.value:
            where = f"{path} line {key_node.start_mark.line + 1}"
            key = str(loader.construct_object(key_node))
            if key in entries:
                raise SettingsError(f"{where}: {key} is set twice (first on {entries[key].where})")
            entries[key] = Entry(key, loader.construct_object(value_node, deep=True), where)
        return list(entries.values())
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f"{path} line {mark.line + 1}" if mark else str(path)
        raise SettingsError(f"{where}: invalid YAML: {exc.problem}") from None
    finally:
        loader.dispose()


def read_ini(path: Path, text: str, section: str) -> list[Entry]:
    """Entries from the [`section`] section of an INI file (keys keep their case)."""
    parser = configparser.ConfigParser(interpolation=None, default_section="\0")
    parser.optionxform = str  # type: ignore[assignment,method-assign]  # keep keys as written
    try:
        parser.read_string(text, source=str(path))
    except configparser.Error as exc:
        line = getattr(exc, "lineno", None) or exc.errors[0][0]  # type: ignore[attr-defined]  # ParsingError
        raise SettingsError(f"{path} line {line}: invalid INI: {exc.message.splitlines()[0]}") from None
    if not parser.has_section(section):
        raise SettingsError(f"{path}: no [{section}] section; settings are read from that section")
    lines = _ini_lines(text, section)
    return [Entry(key, value, f"{path} line {lines[key]}", text=True) for key, value in parser.items(section)]


def _ini_lines(text: str, section: str) -> dict[str, int]:
    """Map each key of `section` to its line number (configparser does not keep them)."""
    lines: dict[str, int] = {}
    current = None
    for number, line in enumerate(text.splitlines(), start=1):
        header = re.match(r"\s*\[([^]]*)\]", line)
        if header:
            current = header.group(1)
        elif current == section and (match := re.match(r"([^\s=:#;][^=:]*?)\s*[=:]", line)):
            lines.setdefault(match.group(1), number)
    return lines
