"""`make bench`: the service (as `make serve` runs it) against a bare Quart app on the same server.

    make bench                                   # 3 rounds of 4 s per target and path, ~2 min
    make bench ROUNDS=5 DURATION=10 WORKERS=1 SERVERS=hypercorn,uvicorn
    make bench INSTRUCTIONS=1                    # and instructions per request under valgrind, +15 min

Targets are alternated round by round and only same-run ratios are worth comparing: absolute
numbers depend on the machine and whatever else runs on it. The database lane (bench/database_lane.py)
runs when a PostgreSQL answers on 127.0.0.1:5432. Only 127.0.0.1 is used; every process started is
killed (its whole process group) before the script ends.
"""

from __future__ import annotations

import argparse
import os
import shlex
import shutil
from contextlib import ExitStack
from pathlib import Path

from bench.collector import discarding_collector
from bench.database_lane import measure_database
from bench.instructions import VALGRIND_HINT, have_valgrind, per_request
from bench.limits_lane import measure_limits
from bench.load import WRK_HINT, have_wrk
from bench.postgres import NoServerError
from bench.report import PATHS, TRACING_ON, Lane, LimitsLane, Results, markdown
from bench.rounds import WARMUP_SECONDS, alternate, free_port, serve_all
from bench.servers import REPO, UNREACHABLE_LIMIT, Target, cold_start


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


def pin(workers: int) -> tuple[list[str], str]:
    """Servers on the first cores, this process and its load generator on the last: taskset's prefix."""
    cores = sorted(os.sched_getaffinity(0))
    if shutil.which("taskset") is None or len(cores) < workers + 1:
        return [], f"not pinned ({len(cores)} cores for {workers} worker(s) and the load generator, or no taskset)"
    server_cores = ",".join(map(str, cores[:workers]))
    os.sched_setaffinity(0, {cores[-1]})
    return ["taskset", "-c", server_cores], f"servers on core {server_cores}, load generator on core {cores[-1]}"


def measure(targets: list[Target], args: argparse.Namespace, prefix: list[str], wrk: bool) -> Results:
    """Cold starts, then every target served at once and loaded in turn, round after round."""
    env = {"WORKERS": str(args.workers), **UNREACHABLE_LIMIT}
    cold: dict[str, list[float]] = {target.name: [] for target in targets}
    for _ in range(args.cold_starts):
        for target in targets:
            cold[target.name].append(cold_start(target, free_port(), env, prefix))
    with ExitStack() as stack:
        ports = serve_all(stack, targets, env, prefix, PATHS, wrk)
        results = alternate(targets, ports, PATHS, args.rounds, args.duration, wrk)
    return Results(targets, results, cold, {})


def database_lane(server: str, args: argparse.Namespace, prefix: list[str], wrk: bool, count: bool) -> Lane | str:
    """The database lane on `server`, or why it was skipped (printed in one line): no PostgreSQL answers."""
    counting = ", then their instructions per request under callgrind" if count else ""
    print(f"Database lane: the service and a bare asyncpg app reading one row from PostgreSQL{counting}", flush=True)
    try:
        return measure_database(server, args, prefix, wrk, count)
    except NoServerError as error:
        print(f"Database lane skipped: {error}", flush=True)
        return str(error)


def limits_lane(server: str, args: argparse.Namespace, prefix: list[str], wrk: bool) -> LimitsLane:
    """The rate limits lane on `server`."""
    print("Rate limits lane: one route limited and exempt, counted in memory and in Redis", flush=True)
    return measure_limits(server, args, prefix, wrk, {"WORKERS": str(args.workers), **UNREACHABLE_LIMIT})


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
    count = args.instructions and have_valgrind()
    lane = database_lane(servers[0], args, prefix, wrk, count)
    limits = limits_lane(servers[0], args, prefix, wrk)
    command = (
        f"make bench ROUNDS={args.rounds} DURATION={args.duration:g} WORKERS={args.workers} SERVERS={','.join(servers)}"
    ) + (" INSTRUCTIONS=1" if args.instructions else "")
    load_generator = "wrk -t1 -c32 --latency" if wrk else "Python asyncio, 32 keep-alive connections"
    setup = {"command": f"`{command}`", "load": load_generator, "pinning": pinning}
    setup["rounds"] = (
        f"{args.rounds} x {args.duration:g} s per target and path, alternated, after a {WARMUP_SECONDS:g} s warm-up"
    )
    if isinstance(lane, str):
        setup["database lane"] = f"skipped: {lane}"
    database = lane if isinstance(lane, Lane) else None
    counts = {}
    if args.instructions and not count:
        print(VALGRIND_HINT, flush=True)
    elif args.instructions:
        print("Counting instructions per GET / under callgrind (minutes)", flush=True)
        one_process = {"WORKERS": "1", **UNREACHABLE_LIMIT}  # callgrind counts the process it starts, not workers
        counts = {target.name: per_request(target, free_port(), one_process) for target in targets[:2]}
        with discarding_collector() as tracing:  # every request sampled, its span exported over OTLP/HTTP
            counts[targets[0].name + TRACING_ON] = per_request(targets[0], free_port(), one_process | tracing)
    report = markdown(Results(results.targets, results.load, results.cold_starts, setup, counts, database, limits))
    print(report)
    args.results.write_text(report)
    print(f"Written to {shlex.quote(str(args.results))}")


if __name__ == "__main__":
    main()
