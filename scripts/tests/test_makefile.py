"""The Makefile's variables: values given to `make run` and `make serve` reach the server as text, never as code."""

from __future__ import annotations

from pathlib import Path

import pytest

from .helpers import HOSTILE_VALUES, make

# What the server (or quart run) says of each variable, once it gets the value as written.
REFUSALS = {
    ("serve", "PORT"): "environment variable PORT has value {value!r}; expected an integer from 1 to 65535",
    ("serve", "WORKERS"): "environment variable WORKERS has value {value!r}; expected an integer from 1 to 64",
    ("serve", "QUART_SETTINGS"): "{value}: unknown settings format; expected a file ending in .yml",
    ("run", "PORT"): "Error: Invalid value for '--port' / '-p': {value!r} is not a valid integer.",
}


@pytest.mark.slow
@pytest.mark.parametrize(("target", "variable"), list(REFUSALS))
@pytest.mark.parametrize("template", HOSTILE_VALUES)
def test_server_variables_are_taken_as_written(tmp_path: Path, target: str, variable: str, template: str) -> None:
    """A value holding shell or make code runs nothing: the server gets the text and refuses it."""
    marker = tmp_path / "pwned"
    value = template.format(marker=marker)
    (tmp_path / "settings.prod.yml").write_text("LOG_LEVEL: INFO\n")
    result = make(tmp_path, target, f"{variable}={value}")
    assert not marker.exists()
    assert result.returncode == 2
    assert REFUSALS[target, variable].format(value=value) in result.stderr
    assert result.stderr.splitlines()[-1].startswith("make: *** [")
