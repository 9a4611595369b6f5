"""The folder where worker processes share their metrics (PROMETHEUS_MULTIPROC_DIR): checked, made, cleaned.

prometheus_client writes a file there for each worker as soon as a metric is made, and a worker
whose file cannot grow on a full disk dies of SIGBUS without a word: so the folder is checked
first, and a start fails with one line instead.
"""

from __future__ import annotations

import atexit
import logging
import multiprocessing
import os
import re
import shutil
import tempfile
from contextlib import suppress
from pathlib import Path

from myservice.settings import SERVICE

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
# prometheus_client's files: <kind>_<pid>.db, e.g. counter_123.db, gauge_livesum_123.db.
METRICS_FILE = re.compile(r"[a-z]+(_[a-z]+)?_(?P<pid>[0-9]+)\.db")
ROOM_NEEDED = 1024 * 1024  # bytes: what prometheus_client maps for a worker's first metrics file
logger = logging.getLogger(f"{SERVICE}.metrics")


def check_usable() -> None:
    """Stop with one line unless PROMETHEUS_MULTIPROC_DIR, if set, names a folder with room to write."""
    if MULTIPROC_ENV not in os.environ:
        return
    text = os.environ[MULTIPROC_ENV]
    if not text:
        raise SystemExit(f"environment variable {MULTIPROC_ENV} is empty; expected a folder, or no variable")
    folder = Path(text)
    if not folder.is_dir():
        what = "a file" if folder.exists() else "missing"
        raise SystemExit(f"environment variable {MULTIPROC_ENV} has value {text[:200]!r}; expected a folder ({what})")
    _check_room(folder)


def share_between_workers(workers: int) -> None:
    """In the servers' master: clean PROMETHEUS_MULTIPROC_DIR, or set it to a new folder for several workers."""
    if MULTIPROC_ENV in os.environ:
        _remove_files_of_the_dead(Path(os.environ[MULTIPROC_ENV]))
    elif workers > 1:
        os.environ[MULTIPROC_ENV] = _new_folder()
        _check_room(Path(os.environ[MULTIPROC_ENV]))


def alive(pid: int) -> bool:
    """Whether a process `pid` exists."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process
        return True
    return True


def _remove_files_of_the_dead(folder: Path) -> None:
    """Remove the metrics files of processes now gone: an earlier run's counts would add up with this run's."""
    stale = [
        path
        for path in folder.iterdir()
        if (match := METRICS_FILE.fullmatch(path.name)) and not alive(int(match["pid"]))
    ]
    for path in stale:
        path.unlink()
    if stale:
        logger.warning("Removed %d metrics files of an earlier run from %s", len(stale), folder)


def _check_room(folder: Path) -> None:
    """Stop with one line unless a worker's metrics file can be written in `folder` (a full disk, no rights)."""
    probe = folder / f".probe-{os.getpid()}.tmp"
    try:
        with probe.open("wb") as file:
            file.write(bytes(ROOM_NEEDED))
            file.flush()
            os.fsync(file.fileno())
    except OSError as error:
        raise SystemExit(f"cannot write metrics files in {str(folder)[:200]}: {error.strerror}") from None
    finally:
        with suppress(OSError):  # a read-only folder refuses even to remove what is not there
            probe.unlink()


def _new_folder() -> str:
    """A new folder for the workers' metrics files, removed when this process, the servers' master, exits."""
    try:
        path = tempfile.mkdtemp(prefix=f"{SERVICE}-metrics-")
    except OSError as error:
        raise SystemExit(f"cannot make a metrics folder in {tempfile.gettempdir()[:200]}: {error.strerror}") from None
    atexit.register(_remove_after_workers, path)  # after a stop, and after a failed start (a port in use ...)
    return path


def _remove_after_workers(path: str) -> None:
    """Remove the metrics folder once the workers, which write to it until they stop, have exited."""
    for worker in multiprocessing.active_children():
        worker.join()
    shutil.rmtree(path, ignore_errors=True)
