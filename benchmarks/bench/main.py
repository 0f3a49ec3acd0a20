"""The harness's command line: parse it, set every system up, measure, report.

Runs inside the benchmark virtualenv (``run.py`` gets there first).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import os
import platform
import signal
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench import report, savecost
from bench.balancer import KINDS as BALANCERS
from bench.runner import Context, Limits, measure, shout
from bench.scale import ScaleOptions, measure_scale
from bench.scenarios import FULL, LOAD, QUICK
from bench.systems import DEFAULT, load, versions

BENCHMARKS = Path(__file__).resolve().parent.parent
WORK = BENCHMARKS / ".work"

#: The collector setting ``docs/scaling.rst`` advises, which a full run measures too.
TUNED_GC = "50000,20,100"
#: The systems measured again with it, and in every round: ours, and the limit to compare with.
TUNED_SYSTEMS = ("limit", "turbo")
#: Rounds of a full run: the limit and turbo measured in turn, at the largest N.
ROUNDS = 3


def parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python3 benchmarks/run.py",
        description="Fan-out benchmarks of django-turbo-streams against its baselines and peers.",
    )
    parser.add_argument(
        "--quick", action="store_true", help="a smoke run: N=10, daphne, short scenarios"
    )
    parser.add_argument("--systems", default=",".join(DEFAULT), help="comma-separated systems")
    parser.add_argument("--servers", help="daphne,uvicorn (default: both; --quick: daphne)")
    parser.add_argument("--n", help="subscriber counts (default: 10,100,1000; --quick: 10)")
    parser.add_argument("--scenarios", help="scenario names (default: all of the configuration)")
    parser.add_argument("--out", default=str(BENCHMARKS / "results"), help="results directory")
    parser.add_argument(
        "--no-savecost", action="store_true", help="skip the save-cost micro-benchmark"
    )
    parser.add_argument(
        "--gc-threshold",
        help="gc.set_threshold() arguments for every server process, e.g. 50000,20,100 "
        "(default: Python's)",
    )
    parser.add_argument(
        "--tuned-gc",
        help="gc.set_threshold() arguments with which the limit and turbo are measured again "
        f"at the largest N, in the same run (default: {TUNED_GC}; --quick, or 'none': not)",
    )
    parser.add_argument(
        "--rounds",
        type=int,
        help="times the limit and turbo (when both are measured) are measured in turn at the "
        "largest N, the first being the run's own figures, so that a ratio's spread shows "
        f"next to it (default: {ROUNDS}; --quick: 1)",
    )
    parser.add_argument(
        "--scale-clients",
        type=int,
        help="the N a scale scenario tries first (scale-10k: 10000), e.g. 1000 to debug",
    )
    parser.add_argument(
        "--client-procs",
        type=int,
        default=4,
        help="client processes the scale scenario spreads its clients over (default: 4)",
    )
    parser.add_argument(
        "--balancer",
        choices=BALANCERS,
        default="nginx",
        help="the balancer of the scale scenario (default: nginx)",
    )
    parser.add_argument(
        "--fail-on-loss",
        action="store_true",
        help="exit with status 1 if any message is lost or any frame is wrong (a load test)",
    )
    args = parser.parse_args(argv)
    args.systems = split(args.systems)
    args.servers = split(args.servers or ("daphne" if args.quick else "daphne,uvicorn"))
    unknown = set(args.servers) - {"daphne", "uvicorn"}
    if unknown:
        parser.error(f"unknown servers: {', '.join(sorted(unknown))}")
    args.n = [int(n) for n in split(args.n or ("10" if args.quick else "10,100,1000"))]
    tuned = args.tuned_gc or ("none" if args.quick else TUNED_GC)
    args.tuned_gc = None if tuned == "none" or tuned == args.gc_threshold else tuned
    args.rounds = args.rounds or (1 if args.quick else ROUNDS)
    if args.rounds < 1:
        parser.error("--rounds must be at least 1")
    preferred, other = (QUICK, FULL) if args.quick else (FULL, QUICK)
    # A name in both configurations means the preferred one's scenario.
    known = {**other, **LOAD, **preferred}
    names = split(args.scenarios) if args.scenarios else list(preferred)
    missing = [name for name in names if name not in known]
    if missing:
        parser.error(f"unknown scenarios {missing}; known: {list(known)}")
    chosen = [known[name] for name in names]
    # The scale scenarios are measured on their own, not at each --n.
    args.scenarios = [s for s in chosen if not s.clients]
    args.scale = [s for s in chosen if s.clients]
    return args


def split(text: str) -> list[str]:
    return [part.strip() for part in text.split(",") if part.strip()]


def machine() -> dict[str, Any]:
    """What the figures were measured on."""
    cpu = "unknown"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    memory = 0.0
    with contextlib.suppress(OSError, ValueError, IndexError):
        meminfo = Path("/proc/meminfo").read_text().splitlines()
        memory = int(meminfo[0].split()[1]) / 2**20
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "memory_gib": memory,
        "kernel": platform.release(),
        "python": platform.python_version(),
        "harness": versions("websockets", "uvloop"),
    }


def describe(system: Any) -> dict[str, Any]:
    """A system's description and, where it can tell, its package versions."""
    found = getattr(system, "versions", None)
    try:
        listed = found() if callable(found) else found
    except Exception as error:
        listed = {"error": repr(error)}
    return {"description": system.description, "versions": listed or {}}


async def measure_all(
    systems: list[Any],
    args: argparse.Namespace,
    context: Context,
    measurements: list[Any],
    scaled: list[Any],
) -> None:
    """Every (server, N, system), systems innermost so that compared figures are close in time;
    then every scale scenario per (server, system).

    Appends to ``measurements`` and ``scaled`` as it goes, so that an interrupted run
    keeps what it measured.
    """
    if context.scenarios:
        tuned = dataclasses.replace(context, gc_threshold=args.tuned_gc)
        for kind in args.servers:
            for n in args.n:
                for system in systems:
                    print(f"\n== {system.name} on {kind}, N={n} ==", flush=True)
                    measurements.append(await measure(system, kind, n, context))
            # Right after the same server's figures at defaults, to be compared with them.
            for system in systems if args.tuned_gc else []:
                if system.name in TUNED_SYSTEMS:
                    print(
                        f"\n== {system.name} on {kind}, N={max(args.n)}, GC {args.tuned_gc} ==",
                        flush=True,
                    )
                    measurements.append(await measure(system, kind, max(args.n), tuned))
            # The machine's speed drifts by minutes: measured in turn, again and again,
            # the pair's ratio shows how far one round's may be off.
            paired = [system for system in systems if system.name in TUNED_SYSTEMS]
            if len(paired) == len(TUNED_SYSTEMS):
                n = max(args.n)
                for round_ in range(2, args.rounds + 1):
                    for system in paired:
                        print(f"\n== {system.name} on {kind}, N={n}, round {round_} ==", flush=True)
                        record = await measure(system, kind, n, context)
                        measurements.append({**record, "round": round_})
    options = ScaleOptions(args.scale_clients, args.client_procs, args.balancer)
    for scenario in args.scale:
        for kind in args.servers:
            for system in systems:
                scaled.append(await measure_scale(system, kind, scenario, options, context))


async def run_measurements(
    systems: list[Any],
    args: argparse.Namespace,
    context: Context,
    measurements: list[Any],
    scaled: list[Any],
) -> None:
    # SIGTERM cancels the run like Ctrl-C does, so every process it started is stopped.
    task = asyncio.ensure_future(measure_all(systems, args, context, measurements, scaled))
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, task.cancel)
    await task


def event_loop_runner() -> asyncio.Runner:
    try:
        import uvloop
    except ImportError:
        return asyncio.Runner()
    return asyncio.Runner(loop_factory=uvloop.new_event_loop)


def main(argv: list[str]) -> int:
    args = parse(argv)
    run_id = time.strftime("%Y%m%d-%H%M%S")
    logs = WORK / "logs" / run_id
    logs.mkdir(parents=True, exist_ok=True)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    problems: list[str] = []
    systems, errors = load(args.systems)
    for error in errors:
        shout(error)
        problems.append(error)
    ready = []
    for system in systems:
        print(f"setting up {system.name}...", flush=True)
        try:
            system.setup(WORK / "systems" / system.name)
        except Exception as error:
            shout(f"setting up {system.name} failed: {error}")
            problems.append(f"setting up {system.name} failed: {str(error)[:500]}")
        else:
            ready.append(system)
    # Described before measuring: the git revision reported is the one measured,
    # even if the repository moves on during a long run.
    described = {s.name: describe(s) for s in ready}
    context = Context(run_id, logs, args.scenarios, Limits(), args.gc_threshold)
    measurements: list[dict[str, Any]] = []
    scaled: list[dict[str, Any]] = []
    interrupted = False
    try:
        with event_loop_runner() as runner:
            runner.run(run_measurements(ready, args, context, measurements, scaled))
    except (KeyboardInterrupt, asyncio.CancelledError):
        interrupted = True
        shout("interrupted: reporting what was measured")
        problems.append("the run was interrupted: figures are missing")
    results: dict[str, Any] = {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "run_id": run_id,
        "command": " ".join(["python3 benchmarks/run.py", *argv]),
        "machine": machine(),
        "config": {
            "quick": args.quick,
            "systems": args.systems,
            "servers": args.servers,
            "n": args.n,
            "scenarios": [dataclasses.asdict(s) for s in args.scenarios],
            "scale": [dataclasses.asdict(s) for s in args.scale],
            "scale_clients": args.scale_clients,
            "client_procs": args.client_procs,
            "balancer": args.balancer,
            "limits": dataclasses.asdict(context.limits),
            "gc_threshold": args.gc_threshold,
            "tuned_gc": args.tuned_gc,
            "rounds": args.rounds,
        },
        "systems": described,
        "measurements": measurements,
        "scale": scaled,
        "savecost": [],
        "problems": problems,
    }
    if "turbo" in args.systems and not args.no_savecost and not interrupted:
        results["savecost"] = savecost.run(args.quick, logs, f"bench.{run_id}")
    found = findings(results)
    problems.extend(found)
    report.print_report(results)
    report.write_json(results, out / "latest.json")
    (out / "table.md").write_text(report.markdown(results))
    plotted = report.plot(results, out / "fanout.png")
    print(f"\nwrote {out / 'latest.json'}, {out / 'table.md'}", end="")
    print(f", {out / 'fanout.png'}" if plotted else " (nothing to plot)")
    print(f"logs in {logs}")
    failed = any(m["error"] for m in measurements) or any("error" in s for s in results["savecost"])
    if interrupted:
        return 130
    lost = args.fail_on_loss and bool(found)
    return 1 if failed or lost or errors or len(ready) < len(systems) else 0


def findings(results: dict[str, Any]) -> list[str]:
    """The run's losses, failures and protocol errors, one line each."""
    found = []
    for record in results["measurements"]:
        label = f"{record['system']} on {record['server']}, N={record['n']}"
        if "round" in record:
            label += f", round {record['round']}"
        if record["error"]:
            found.append(f"{label} FAILED: {record['error'].splitlines()[0]}")
        for result in record["scenarios"]:
            if result["lost"]:
                found.append(
                    f"{label}, {result['scenario']}: LOST {result['lost']} of "
                    f"{result['expected']} ({result['outcome']})"
                )
            if result["protocol_errors"]:
                found.append(
                    f"{label}, {result['scenario']}: {result['protocol_errors']} protocol errors"
                )
    for scaled in results.get("scale", []):
        for attempt in scaled["attempts"]:
            label = (
                f"{scaled['system']} on {scaled['server']}, {scaled['scenario']}, N={attempt['n']}"
            )
            if attempt["error"]:
                found.append(f"{label} FAILED: {attempt['error'].splitlines()[0]}")
            if attempt["connected"] < attempt["n"] and not attempt["error"]:
                found.append(
                    f"{label}: {attempt['n'] - attempt['connected']} clients not connected"
                )
            for phase in attempt["phases"]:
                if phase["lost"]:
                    found.append(
                        f"{label}, {phase['phase']}: LOST {phase['lost']} of "
                        f"{phase['expected']} ({phase['outcome']})"
                    )
                if phase.get("killed_at") and not phase["within_bound"]:
                    found.append(f"{label}, kill: recovery beyond {phase['bound_s']:g} s")
    for run in results["savecost"]:
        if "error" in run:
            found.append(f"save cost ({run['layer']}) FAILED")
    return found


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
