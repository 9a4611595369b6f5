"""server.py: the options every production server starts from, read once for both servers."""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from myservice.server import ServerOptions, server_options
from myservice.settings import SettingsError

from .helpers import free_port

MASTER = "from myservice.server import server_options; server_options()"


def test_server_options_from_environment_and_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", "")
    monkeypatch.delenv("PROMETHEUS_MULTIPROC_DIR")  # so that monkeypatch undoes what server_options sets
    env = {"PORT": "9001", "HOST": "127.0.0.1", "WORKERS": "2", "ROOT_PATH": "/api", "MYSERVICE_GRACEFUL_TIMEOUT": "7"}
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    assert server_options() == ServerOptions("127.0.0.1", 9001, 2, "/api", 7.0)
    assert os.path.isdir(os.environ["PROMETHEUS_MULTIPROC_DIR"])


@pytest.mark.parametrize("value", ["inf", "-inf", "nan", "1e999"])
def test_graceful_timeout_must_be_finite(monkeypatch: pytest.MonkeyPatch, value: str) -> None:
    """GRACEFUL_TIMEOUT inf or nan stops the start with the settings' one line, before any server sees it."""
    monkeypatch.setenv("MYSERVICE_GRACEFUL_TIMEOUT", value)
    where = "environment variable MYSERVICE_GRACEFUL_TIMEOUT"
    expected = f"{where}: GRACEFUL_TIMEOUT has value '{value}'; expected a finite number"
    with pytest.raises(SettingsError, match=re.escape(expected)):
        server_options()


@pytest.mark.slow
def test_a_metrics_folder_made_is_removed_and_one_supplied_is_kept(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A process that read the options for two workers removes the folder it made, never one it was given."""
    monkeypatch.delenv("PROMETHEUS_MULTIPROC_DIR", raising=False)
    mine = tmp_path / "mine"
    mine.mkdir()
    env = {**os.environ, "WORKERS": "2", "TMPDIR": str(tmp_path)}
    subprocess.run([sys.executable, "-c", MASTER], env=env, check=True, timeout=30)
    subprocess.run(
        [sys.executable, "-c", MASTER], env=env | {"PROMETHEUS_MULTIPROC_DIR": str(mine)}, check=True, timeout=30
    )
    assert list(tmp_path.iterdir()) == [mine]


@pytest.mark.slow
@pytest.mark.parametrize(
    "command",
    [
        [sys.executable, "-m", "myservice.supervisor"],
        [sys.executable, "-m", "myservice.fastlane"],
    ],
    ids=["hypercorn", "fastlane"],
)
def test_a_failed_start_leaves_no_metrics_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, command: list[str]
) -> None:
    """A server that cannot listen (its port is taken) exits non-zero and removes the metrics folder it made."""
    monkeypatch.delenv("PROMETHEUS_MULTIPROC_DIR", raising=False)
    port = free_port()
    env = {**os.environ, "PORT": str(port), "HOST": "127.0.0.1", "WORKERS": "2", "TMPDIR": str(tmp_path)}
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", port))
        taken.listen()
        result = subprocess.run(
            [*command, "myservice:create_app()"], env=env, cwd=tmp_path, capture_output=True, timeout=30
        )
    assert result.returncode != 0, result.stderr
    assert list(tmp_path.glob("myservice-metrics-*")) == []


def master(env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    """Read the options for two workers in a new process, as a server's master does at start."""
    command = [sys.executable, "-c", MASTER]
    return subprocess.run(
        command, env={**os.environ, "WORKERS": "2", **env}, cwd=cwd, capture_output=True, text=True, timeout=30
    )


@contextmanager
def tiny_tmpfs(folder: Path, options: str) -> Iterator[Path]:
    """A 64 KiB tmpfs mounted at `folder` (`options`: e.g. "ro"), unmounted afterwards; a skip where mount fails."""
    folder.mkdir()
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size=64k,{options}", "tmpfs", str(folder)], capture_output=True, check=False
    )
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.decode().strip()}")
    try:
        yield folder
    finally:
        subprocess.run(["umount", str(folder)], check=True, timeout=10)


@pytest.mark.slow
@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("", "environment variable PROMETHEUS_MULTIPROC_DIR is empty; expected a folder, or no variable"),
        ("missing", "environment variable PROMETHEUS_MULTIPROC_DIR has value {path!r}; expected a folder (missing)"),
        ("file", "environment variable PROMETHEUS_MULTIPROC_DIR has value {path!r}; expected a folder (a file)"),
    ],
)
def test_a_metrics_folder_that_is_no_folder_stops_the_start_with_one_line(
    tmp_path: Path, value: str, expected: str
) -> None:
    """PROMETHEUS_MULTIPROC_DIR empty, missing or a file: status 1 and one line, before any worker starts."""
    path = str(tmp_path / value) if value else ""
    (tmp_path / "file").touch()
    result = master({"PROMETHEUS_MULTIPROC_DIR": path}, tmp_path)
    assert (result.returncode, result.stderr.splitlines()) == (1, [expected.format(path=path)])
    assert list(tmp_path.glob("*.db")) == []


@pytest.mark.slow
@pytest.mark.parametrize(
    ("options", "why"), [("ro", "Read-only file system"), ("rw", "No space left on device")], ids=["read-only", "full"]
)
def test_a_metrics_folder_that_cannot_be_written_stops_the_start_with_one_line(
    tmp_path: Path, options: str, why: str
) -> None:
    """A read-only or full folder fails the start with a line naming it, not with a SIGBUS in a worker."""
    with tiny_tmpfs(tmp_path / "tiny", options) as tiny:
        result = master({"PROMETHEUS_MULTIPROC_DIR": str(tiny)}, tmp_path)
    assert (result.returncode, result.stderr.splitlines()) == (1, [f"cannot write metrics files in {tiny}: {why}"])


@pytest.mark.slow
def test_a_full_temporary_folder_stops_the_start_with_one_line_and_leaves_nothing(tmp_path: Path) -> None:
    """No PROMETHEUS_MULTIPROC_DIR and a full TMPDIR: one line naming the folder made, which is removed."""
    with tiny_tmpfs(tmp_path / "tiny", "rw") as tiny:
        result = master({"TMPDIR": str(tiny)}, tmp_path)
        left = list(tiny.iterdir())
    assert result.returncode == 1
    made = rf"{tiny}/myservice-metrics-\w+"
    assert re.fullmatch(rf"cannot write metrics files in {made}: No space left on device", result.stderr.strip())
    assert left == []


@pytest.mark.slow
def test_metrics_files_of_an_earlier_run_are_removed_at_start(tmp_path: Path) -> None:
    """Files of processes now gone are removed (with a warning), so old counts do not add up with new ones;
    those of running processes and other files stay."""
    gone = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True, check=True
    )
    old, running, other = f"counter_{gone.stdout.strip()}.db", f"counter_{os.getpid()}.db", "orders.db"
    for name in (old, running, other):
        (tmp_path / name).write_bytes(b"\0" * 8)
    env = {"PROMETHEUS_MULTIPROC_DIR": str(tmp_path), "MYSERVICE_LOG_FORMAT": "json"}
    result = master(env, tmp_path)
    assert result.returncode == 0, result.stderr
    # (The master's own gauge of requests in flight, always 0, is left for the next start to remove.)
    left = {path.name for path in tmp_path.iterdir() if not path.name.startswith("gauge_livesum_")}
    assert left == {running, other}
    (line,) = [json.loads(line) for line in result.stderr.splitlines()]
    assert (line["level"], line["message"]) == ("WARNING", f"Removed 1 metrics files of an earlier run from {tmp_path}")
