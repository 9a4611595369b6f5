"""Settings sources: a YAML or INI file and the environment, read into entries that know where they
came from (file and line, or variable). `myservice.settings` checks and combines them."""

from __future__ import annotations

import configparser
import os
import re
import stat
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from myservice.settings_yaml import SettingsLoader

YAML_SUFFIXES = (".yml", ".yaml")
INI_SUFFIXES = (".ini", ".cfg")
# A settings file holds a few hundred bytes; a larger one is a mistake, not something to parse for seconds.
MAX_FILE_BYTES = 1024 * 1024
SHOWN_CHARACTERS = 80  # of a value echoed in an error: enough to recognise it, never a flood


class SettingsError(SystemExit):
    """A settings source is unusable.

    A SystemExit, so that every entry point (`quart run`, `hypercorn`, `python -c`) stops with
    this one-line message and exit status 1 instead of a traceback.
    """


@dataclass(frozen=True)
class Entry:
    """One raw value and where it came from; `text` values still need converting. `within` says where
    each key nested in the value was written (a YAML mapping's), by its path of keys."""

    key: str
    value: object
    where: str
    text: bool = False
    within: Mapping[tuple[str, ...], str] = field(default_factory=dict)


def clip(text: str, limit: int = SHOWN_CHARACTERS) -> str:
    """`text` on one line and at most `limit` characters, ending in ... if it was cut."""
    text = text.replace("\n", "\\n").replace("\r", "\\r")
    return text if len(text) <= limit else text[: limit - 3] + "..."


def shown(value: object) -> str:
    """How an error message shows a value: its repr, clipped."""
    try:
        return clip(repr(value))
    except ValueError:  # an int beyond Python's limit for printing (sys.get_int_max_str_digits)
        return f"an integer of {value.bit_length()} bits"  # type: ignore[attr-defined]  # only ints fail


def read_env(environ: Mapping[str, str], prefix: str) -> list[Entry]:
    """Entries from `<prefix><KEY>` environment variables (MYSERVICE_DEBUG ...)."""
    return [
        Entry(name.removeprefix(prefix), value, f"environment variable {clip(name)}", text=True)
        for name, value in sorted(environ.items())
        if name.startswith(prefix)
    ]


def read_file(path: Path, section: str) -> list[Entry]:
    """Entries from a YAML or INI settings file, each knowing its line."""
    if path.suffix not in YAML_SUFFIXES + INI_SUFFIXES:
        suffixes = ", ".join(YAML_SUFFIXES + INI_SUFFIXES)
        raise SettingsError(f"{path}: unknown settings format; expected a file ending in {suffixes}")
    try:
        text = read_bytes(path).decode("utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise SettingsError(f"{path}: cannot read settings file: {getattr(exc, 'strerror', None) or exc}") from None
    return read_yaml(path, text) if path.suffix in YAML_SUFFIXES else read_ini(path, text, section)


def read_bytes(path: Path) -> bytes:
    """The bytes of a regular file of at most MAX_FILE_BYTES; a FIFO, a device or a folder is refused."""
    # O_NONBLOCK: opening a FIFO to read would wait for a writer; it is refused below instead.
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise SettingsError(f"{path}: cannot read settings file: not a regular file")
        with os.fdopen(fd, "rb", closefd=False) as file:
            data = file.read(MAX_FILE_BYTES + 1)
    finally:
        os.close(fd)
    if len(data) > MAX_FILE_BYTES:
        raise SettingsError(f"{path}: cannot read settings file: larger than {MAX_FILE_BYTES // 2**20} MiB")
    return data


def read_yaml(path: Path, text: str) -> list[Entry]:
    """Entries from a YAML mapping, loaded safely and boundedly; a key set twice is an error."""
    try:
        loader = SettingsLoader(text)  # which refuses control characters at once
        try:
            return _yaml_entries(path, loader)
        finally:
            loader.dispose()
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f"{path} line {mark.line + 1}" if mark else str(path)
        raise SettingsError(f"{where}: invalid YAML: {clip(exc.problem or '', 120)}") from None
    except yaml.reader.ReaderError as exc:  # the reader knows the character's offset only
        where = f"{path} line {text.count(chr(10), 0, exc.position) + 1}"
        raise SettingsError(f"{where}: invalid YAML: character #x{exc.character:04x} is not allowed") from None


def _yaml_entries(path: Path, loader: SettingsLoader) -> list[Entry]:
    """The entries of the one mapping that `loader` reads."""
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
            raise SettingsError(f"{where}: {clip(key)} is set twice (first on {entries[key].where})")
        value = loader.construct_object(value_node, deep=True)
        entries[key] = Entry(key, value, where, within=_nested_keys(path, value_node, key))
    return list(entries.values())


def _nested_keys(path: Path, node: yaml.Node, setting: str, keys: tuple[str, ...] = ()) -> dict[tuple[str, ...], str]:
    """Where each key nested in `node` is written, by its path of keys; a key set twice is an error
    (PyYAML would keep the last without a word)."""
    found: dict[tuple[str, ...], str] = {}
    if not isinstance(node, yaml.MappingNode):
        return found
    for key_node, value_node in node.value:
        nested = (*keys, str(key_node.value))
        where = f"{path} line {key_node.start_mark.line + 1}"
        if nested in found:
            raise SettingsError(
                f"{where}: {clip('.'.join((setting, *nested)))} is set twice (first on {found[nested]})"
            )
        found[nested] = where
        found |= _nested_keys(path, value_node, setting, nested)
    return found


def read_ini(path: Path, text: str, section: str) -> list[Entry]:
    """Entries from the [`section`] section of an INI file (keys keep their case)."""
    parser = configparser.ConfigParser(interpolation=None, default_section="\0")
    parser.optionxform = str  # type: ignore[assignment,method-assign]  # keep keys as written
    try:
        parser.read_string(text, source=str(path))
    except configparser.Error as exc:
        raise SettingsError(f"{path} line {_ini_error_line(exc)}: invalid INI: {_ini_problem(exc)}") from None
    if not parser.has_section(section):
        raise SettingsError(f"{path}: no [{section}] section; settings are read from that section")
    lines = _ini_lines(text, section)
    return [Entry(key, value, f"{path} line {lines[key]}", text=True) for key, value in parser.items(section)]


def _ini_error_line(exc: configparser.Error) -> int:
    """The line an INI error is on (a ParsingError keeps it with its first error only)."""
    return getattr(exc, "lineno", None) or exc.errors[0][0]  # type: ignore[attr-defined,no-any-return]


def _ini_problem(exc: configparser.Error) -> str:
    """What is wrong, without configparser's echo of the file's name and of the offending line."""
    if isinstance(exc, configparser.DuplicateOptionError):
        return f"{clip(exc.option)} is set twice in [{clip(exc.section)}]"
    if isinstance(exc, configparser.DuplicateSectionError):
        return f"section [{clip(exc.section)}] appears twice"
    if isinstance(exc, configparser.MissingSectionHeaderError):
        return "no section header before the first setting"
    return "a line that is neither [section] nor key = value"


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
