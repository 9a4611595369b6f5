"""Fixtures: each test in an empty folder, with no service settings from the developer's shell."""

from __future__ import annotations

import os
from pathlib import Path

import pytest


@pytest.fixture(autouse=True)
def _isolate(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Run each test in an empty folder, without QUART_* or service variables that would reach subprocesses."""
    for name in os.environ:
        if name.startswith("QUART_") or name.endswith(("_LOG_LEVEL", "_LOG_FORMAT", "_DEBUG")):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)
