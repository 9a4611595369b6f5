"""The results of a bench run as Markdown: the machine, the command, the tables, the ratios."""

from __future__ import annotations

import os
import platform
import statistics
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from bench.load import LoadResult
from bench.servers import Target

PATHS = ("/", "/healthz")
TRACING_ON = ", tracing on"  # after a target's name: the same target with OTEL_EXPORTER_OTLP_ENDPOINT set
RATIO_HEAD = ["", "| ratio | median over rounds | lowest-highest round |", "|---|---:|---:|"]


@dataclass(frozen=True)
class Results:
    """Every measurement of one run, in the order taken; keys are (target name, path)."""

    targets: Sequence[Target]
    load: dict[tuple[str, str], list[LoadResult]]
    cold_starts: dict[str, list[float]]
    setup: dict[str, str]
    instructions: dict[str, int] = field(default_factory=dict)  # per GET /, by target name (callgrind)
    database: Lane | None = None
    limits: LimitsLane | None = None


@dataclass(frozen=True)
class Lane:
    """The database lane: the service and the bare app reading one row at `path`, same server, same run."""

    targets: Sequence[Target]  # the service, then the bare app
    path: str
    load: dict[tuple[str, str], list[LoadResult]]
    setup: dict[str, str]
    instructions: dict[str, int] = field(default_factory=dict)  # per request, by target name (callgrind)


@dataclass(frozen=True)
class LimitsLane:
    """The rate limits lane: one route limited and exempt, per store (memory, then Redis), same run."""

    targets: Sequence[Target]
    load: dict[tuple[str, str], list[LoadResult]]
    skipped: str = ""  # what did not run, and why


def machine() -> dict[str, str]:
    """The CPU model, the cores, Python and the date (UTC) of this run."""
    cpuinfo = Path("/proc/cpuinfo")
    models = [
        line.split(":", 1)[1].strip() for line in cpuinfo.read_text().splitlines() if line.startswith("model name")
    ]
    return {
        "CPU": models[0] if models else platform.processor() or platform.machine(),
        "cores": str(os.cpu_count()),
        "Python": f"{platform.python_implementation()} {platform.python_version()}",
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
    }


def round_ratios(numerators: list[float], denominators: list[float]) -> list[float]:
    """The round-by-round ratios (rounds alternate, so each pair saw the same machine)."""
    return [n / d for n, d in zip(numerators, denominators, strict=True) if d]


def ratio(numerators: list[float], denominators: list[float]) -> float:
    """The median of the round-by-round ratios."""
    return statistics.median(round_ratios(numerators, denominators))


def spread(numerators: list[float], denominators: list[float]) -> str:
    """The lowest and the highest round-by-round ratio: how noisy the machine was."""
    each = round_ratios(numerators, denominators)
    return f"{min(each):.2f}-{max(each):.2f}x"


def ratios(results: Results) -> list[tuple[str, float, str]]:
    """Skeleton / bare on the first server, other servers / the first for the skeleton, cold start."""
    first, bare = results.targets[0], results.targets[1]
    rows = []
    for other in [bare, *results.targets[2:]]:
        top, bottom = (first, bare) if other is bare else (other, first)
        label = f"{top.name} / {bottom.name}"
        for path in PATHS:
            rates = [[r.requests_per_second for r in results.load[t.name, path]] for t in (top, bottom)]
            rows.append((f"req/s {label}, GET {path}", ratio(*rates), spread(*rates)))
    skeleton, baseline = results.cold_starts[first.name], results.cold_starts[bare.name]
    cold = statistics.median(skeleton) / statistics.median(baseline)
    rows.append((f"cold start {first.name} / {bare.name} (medians)", cold, ""))
    return rows


def markdown(results: Results) -> str:
    """The whole report."""
    lines = ["# make bench", ""]
    lines += [f"- {key}: {value}" for key, value in {**machine(), **results.setup}.items()]
    lines += load_table(results.targets, PATHS, results.load)
    lines += ["", "| cold start (process start to first 200 on /healthz) | median s | runs |", "|---|---:|---:|"]
    for name, seconds in results.cold_starts.items():
        lines.append(f"| {name} | {statistics.median(seconds):.2f} | {len(seconds)} |")
    lines += RATIO_HEAD
    lines += [f"| {label} | {value:.2f}x | {rounds} |" for label, value, rounds in ratios(results)]
    if results.instructions:
        lines += ["", "| instructions per GET / in the server process (callgrind) | count |", "|---|---:|"]
        lines += [f"| {name} | {count:,} |" for name, count in results.instructions.items()]
        skeleton, bare = (target.name for target in results.targets[:2])
        value = results.instructions[bare] / results.instructions[skeleton]
        lines += ["", f"Instructions {bare} / {skeleton}: {value:.2f}x (the req/s ratio, were both run alike)."]
        if skeleton + TRACING_ON in results.instructions:
            more = results.instructions[skeleton + TRACING_ON] / results.instructions[skeleton] - 1
            lines += ["", f"Tracing on (every request sampled, exported over OTLP/HTTP): {more:+.0%} per GET /."]
    if results.database:
        lines += database_lane(results.database)
    if results.limits:
        lines += limits_lane(results.limits)
    return "\n".join(lines) + "\n"


def load_table(
    targets: Sequence[Target], paths: Sequence[str], load: dict[tuple[str, str], list[LoadResult]]
) -> list[str]:
    """Requests/s, latency and errors of every target and path (medians over rounds; errors summed)."""
    lines = ["", "| server + app | path | req/s | p50 ms | p99 ms | errors |", "|---|---|---:|---:|---:|---:|"]
    for target in targets:
        for path in paths:
            runs = load[target.name, path]
            rate, p50, p99 = (
                statistics.median(getattr(r, f) for r in runs) for f in ("requests_per_second", "p50_ms", "p99_ms")
            )
            errors = sum(r.errors for r in runs)
            lines.append(f"| {target.name} | GET {path} | {rate:,.0f} | {p50:.2f} | {p99:.2f} | {errors} |")
    return lines


def database_lane(lane: Lane) -> list[str]:
    """The database lane's section: its setup, its table, the same-run ratio and the instruction counts."""
    service, bare = lane.targets
    lines = ["", f"## Database lane: GET {lane.path}, one row from PostgreSQL", ""]
    lines += [f"- {key}: {value}" for key, value in lane.setup.items()]
    lines += load_table(lane.targets, [lane.path], lane.load)
    rates = [[r.requests_per_second for r in lane.load[t.name, lane.path]] for t in (service, bare)]
    lines += RATIO_HEAD
    lines.append(f"| req/s {service.name} / {bare.name}, GET {lane.path} | {ratio(*rates):.2f}x | {spread(*rates)} |")
    if lane.instructions:
        lines += ["", f"| instructions per GET {lane.path} in the server process (callgrind) | count |", "|---|---:|"]
        lines += [f"| {name} | {count:,} |" for name, count in lane.instructions.items()]
        value = lane.instructions[bare.name] / lane.instructions[service.name]
        lines += ["", f"Instructions {bare.name} / {service.name}: {value:.2f}x."]
    return lines


def limits_lane(lane: LimitsLane) -> list[str]:
    """The rate limits lane's section: its table and the same-run ratios, limited / exempt per store."""
    from bench.limits import EXEMPT, LIMITED  # the bench's app imports the service: only when there is a lane

    lines = ["", f"## Rate limits lane: GET {LIMITED} against GET {EXEMPT}"]
    lines += ["", f"- skipped: {lane.skipped}"] if lane.skipped else []
    lines += load_table(lane.targets, [LIMITED, EXEMPT], lane.load)
    lines += RATIO_HEAD
    for target in lane.targets:
        rates = [[r.requests_per_second for r in lane.load[target.name, path]] for path in (LIMITED, EXEMPT)]
        lines.append(f"| req/s {target.name}, limited / exempt | {ratio(*rates):.2f}x | {spread(*rates)} |")
    return lines
