"""`make bench`: the service (as `make serve` runs it) against a bare Quart app on the same server.

    make bench                                   # 3 rounds of 4 s per target and path, ~1.5 min
    make bench ROUNDS=5 DURATION=10 WORKERS=1 SERVERS=hypercorn,uvicorn
    make bench INSTRUCTIONS=1                    # and instructions per request under valgrind, +10 min

Targets are alternated round by round and only same-run ratios are worth comparing: absolute
numbers depend on the machine and whatever else runs on it. Only 127.0.0.1 is used; every
process started is killed (its whole process group) before the script ends.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shlex
import shutil
import socket
from contextlib import ExitStack
from pathlib import Path

from bench.instructions import VALGRIND_HINT, have_valgrind, per_request
from bench.load import WRK_HINT, LoadResult, have_wrk, python_load, run_wrk
from bench.report import PATHS, Results, markdown
from bench.servers import REPO, Target, cold_start, started, wait_until_up

WARMUP_SECONDS = 1.0


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    """Options from the command line, defaulting to the environment (as `make bench VAR=...` sets it)."""
    env = os.environ.get
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=int(env("ROUNDS", "3")))
    parser.add_argument("--duration", type=float, default=float(env("DURATION", "4")), help="seconds per load run")
    parser.add_argument("--workers", type=int, default=int(env("WORKERS", "1")))
    servers = env("SERVERS") or env("SERVER") or "hypercorn,uvicorn"
    parser.add_argument("--servers", default=servers, help="the first also serves the bare baseline")
    parser.add_argument("--cold-starts", type=int, default=int(env("COLD_STARTS", "3")))
    parser.add_argument("--load", choices=["auto", "wrk", "python"], default=env("LOAD", "auto"))
    parser.add_argument(
        "--instructions",
        action="store_true",
        default=bool(env("INSTRUCTIONS")),
        help="also count instructions per request under valgrind (minutes)",
    )
    parser.add_argument("--results", type=Path, default=Path(env("RESULTS", str(REPO / "bench" / "results.md"))))
    return parser.parse_args(argv)


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def pin(workers: int) -> tuple[list[str], str]:
    """Servers on the first cores, this process and its load generator on the last: taskset's prefix."""
    cores = sorted(os.sched_getaffinity(0))
    if shutil.which("taskset") is None or len(cores) < workers + 1:
        return [], f"not pinned ({len(cores)} cores for {workers} worker(s) and the load generator, or no taskset)"
    server_cores = ",".join(map(str, cores[:workers]))
    os.sched_setaffinity(0, {cores[-1]})
    return ["taskset", "-c", server_cores], f"servers on core {server_cores}, load generator on core {cores[-1]}"


def load(port: int, path: str, seconds: float, wrk: bool) -> LoadResult:
    """One bounded load run against 127.0.0.1:`port``path`."""
    if wrk:
        return run_wrk(f"http://127.0.0.1:{port}{path}", seconds, [])
    return asyncio.run(python_load("127.0.0.1", port, path, seconds))


def measure(targets: list[Target], args: argparse.Namespace, prefix: list[str], wrk: bool) -> Results:
    """Cold starts, then every target served at once and loaded in turn, round after round."""
    env = {"WORKERS": str(args.workers)}
    cold: dict[str, list[float]] = {target.name: [] for target in targets}
    for _ in range(args.cold_starts):
        for target in targets:
            cold[target.name].append(cold_start(target, free_port(), env, prefix))
    results: dict[tuple[str, str], list[LoadResult]] = {(t.name, path): [] for t in targets for path in PATHS}
    with ExitStack() as stack:
        ports = {target.name: free_port() for target in targets}
        for target in targets:
            running = stack.enter_context(started(target, ports[target.name], env, prefix))
            wait_until_up(running, f"http://127.0.0.1:{ports[target.name]}/healthz")
            for path in PATHS:
                load(ports[target.name], path, WARMUP_SECONDS, wrk)
        for round_ in range(args.rounds):
            order = targets[round_ % len(targets) :] + targets[: round_ % len(targets)]
            for path in PATHS:
                for target in order:
                    results[target.name, path].append(load(ports[target.name], path, args.duration, wrk))
    return Results(targets, results, cold, {})


def main(argv: list[str] | None = None) -> None:
    """Run the bench, print the report and write it to --results."""
    args = parse(argv)
    servers = [name.strip() for name in args.servers.split(",") if name.strip()]
    targets = [Target(servers[0], bare=False), Target(servers[0], bare=True), *(Target(s, False) for s in servers[1:])]
    wrk = args.load == "wrk" or (args.load == "auto" and have_wrk())
    if not wrk:
        print(WRK_HINT, flush=True)
    prefix, pinning = pin(args.workers)
    print(f"Benchmarking {', '.join(t.name for t in targets)}: {pinning}", flush=True)
    results = measure(targets, args, prefix, wrk)
    command = (
        f"make bench ROUNDS={args.rounds} DURATION={args.duration:g} WORKERS={args.workers} SERVERS={','.join(servers)}"
    ) + (" INSTRUCTIONS=1" if args.instructions else "")
    load_generator = "wrk -t1 -c32 --latency" if wrk else "Python asyncio, 32 keep-alive connections"
    setup = {"command": f"`{command}`", "load": load_generator, "pinning": pinning}
    setup["rounds"] = (
        f"{args.rounds} x {args.duration:g} s per target and path, alternated, after a {WARMUP_SECONDS:g} s warm-up"
    )
    counts = {}
    if args.instructions and not have_valgrind():
        print(VALGRIND_HINT, flush=True)
    elif args.instructions:
        print("Counting instructions per request under callgrind (minutes)", flush=True)
        one_process = {"WORKERS": "1"}  # callgrind counts the process it starts, not worker processes
        counts = {target.name: per_request(target, free_port(), one_process) for target in targets[:2]}
    report = markdown(Results(results.targets, results.load, results.cold_starts, setup, counts))
    print(report)
    args.results.write_text(report)
    print(f"Written to {shlex.quote(str(args.results))}")


if __name__ == "__main__":
    main()
