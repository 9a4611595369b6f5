"""The production lane: Hypercorn's workers, each replaced when it dies.

    python -m myservice.supervisor 'myservice:create_app()'

is what `make serve` and the image run, with Hypercorn's configuration from `myservice.serving`.
One worker serves in this process, as Hypercorn does. With several, this process is their master:
Hypercorn 0.18's own master stops every worker when one dies and then exits 0. Here a worker
killed by a signal (the OOM killer, kill -9, a crash in C) is logged and replaced while the others
serve; a worker that exits by itself (it could not start) stops the server with status 1.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import signal
import sys
import threading
import time
from collections.abc import Callable
from multiprocessing.connection import wait
from multiprocessing.process import BaseProcess
from multiprocessing.synchronize import Event
from types import FrameType

from hypercorn.asyncio.run import uvloop_worker
from hypercorn.config import Config, Sockets
from hypercorn.run import run

from myservice.server import check_port_free

logger = logging.getLogger("hypercorn.error")
REPLACEMENTS_APART = 1.0  # seconds at least between two new workers, so that a crash loop cannot spin
STOP_MARGIN = 5.0  # seconds past the graceful timeout before workers still running are killed


def main(argv: list[str] = sys.argv) -> None:
    """Serve the app factory named like Hypercorn's argument (`module:factory()`) until SIGTERM or Ctrl-C."""
    if len(argv) != 2 or not argv[1].endswith("()"):
        usage = "python -m myservice.supervisor 'module:factory()'"
        raise SystemExit(f"usage: {usage}, not {argv[1:]}")
    config = Config.from_object("myservice.serving")
    config.application_path = argv[1]
    host, _, port = config.bind[0].rpartition(":")
    check_port_free(host, int(port))
    sys.exit(run(config) if config.workers == 0 else Supervisor(config).run())


class Supervisor:
    """Start `config.workers` Hypercorn workers on shared sockets, replace those that die, stop them on a signal."""

    def __init__(self, config: Config) -> None:
        self.config = config
        self.context = multiprocessing.get_context("spawn")
        self.stopping = self.context.Event()  # the workers' shutdown trigger
        self.status = 0
        self.last_start = 0.0

    def run(self) -> int:
        """Serve until a signal or a failed worker stops the server: the exit status."""
        sockets = self.config.create_sockets()
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # the workers inherit it: Ctrl-C reaches the master only
        workers = [self._start(sockets) for _ in range(self.config.workers)]
        for signum in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
            signal.signal(signum, self._stop)
        while not self.stopping.is_set():
            wait([worker.sentinel for worker in workers])
            workers = [self._replace(worker, sockets) if worker.exitcode is not None else worker for worker in workers]
        self._join(workers)
        return self.status

    def _replace(self, dead: BaseProcess, sockets: Sockets) -> BaseProcess:
        """A new worker for one killed by a signal; otherwise stop the server with status 1."""
        dead.join()
        if self.stopping.is_set():
            return dead
        code = dead.exitcode or 0
        if code >= 0:
            logger.error("Worker %s exited with status %s; stopping the server", dead.pid, code)
            self.status = 1
            self.stopping.set()
            return dead
        logger.error("Worker %s was killed by %s; starting a new one", dead.pid, signal.Signals(-code).name)
        time.sleep(max(0.0, self.last_start + REPLACEMENTS_APART - time.monotonic()))
        return self._start(sockets)

    def _start(self, sockets: Sockets) -> BaseProcess:
        """Start one worker process."""
        worker = self.context.Process(target=_serve, args=(self.config, sockets, self.stopping, os.getpid()))
        worker.start()
        self.last_start = time.monotonic()
        return worker

    def _stop(self, signum: int, frame: FrameType | None) -> None:
        """SIGTERM, SIGINT, SIGHUP: every worker drains for up to the graceful timeout, then the server exits."""
        logger.info("Received %s: stopping the workers", signal.Signals(signum).name)
        self.stopping.set()

    def _join(self, workers: list[BaseProcess]) -> None:
        """Wait for the workers to drain; kill those still running past the graceful timeout."""
        deadline = time.monotonic() + self.config.graceful_timeout + STOP_MARGIN
        for worker in workers:
            worker.join(max(0.0, deadline - time.monotonic()))
            if worker.exitcode is None:
                worker.kill()
                worker.join()


def _serve(config: Config, sockets: Sockets, stopping: Event, master: int) -> None:
    """A worker: serve until the master says stop, or until the master is gone."""
    watch_parent(master, stopping.set)
    uvloop_worker(config, sockets, stopping)


def watch_parent(parent: int, orphaned: Callable[[], None]) -> None:
    """Call `orphaned` once `parent` is no longer this process's parent (it died, even of SIGKILL)."""

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(0.5)
        logger.error("The master process %s is gone: this worker stops", parent)
        orphaned()

    threading.Thread(target=watch, name="watch-parent", daemon=True).start()


if __name__ == "__main__":
    main()
