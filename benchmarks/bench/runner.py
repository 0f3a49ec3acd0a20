"""One measurement: a system, a server, N subscribers, and every scenario in turn.

Each measurement gets a fresh server process and a Redis prefix of its own.
Its clients connect and subscribe, idle memory is read, a warm-up broadcast
reaches every client (from the driver, and from the poster if a scenario
posts), then each scenario runs and is measured on its own.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from bench.clients import Clients, Recorder
from bench.procs import (
    Driver,
    Server,
    free_port,
    machine_busy_seconds,
    tail,
    with_gc_threshold,
)
from bench.scenarios import percentile

if TYPE_CHECKING:
    from collections.abc import Sequence
    from pathlib import Path

    from bench.fleet import Fleet
    from bench.scenarios import Scenario
    from bench.system import System

#: Warm-up broadcasts use sequence numbers from 1 (the poster's from POST_WARMUP_FIRST);
#: scenario k from (k + 1) * SEQ_STRIDE.
WARMUP_TRIES = 6
WARMUP_WAIT = 5.0
SEQ_STRIDE = 100_000
POST_WARMUP_FIRST = SEQ_STRIDE // 2


@dataclass
class Limits:
    """How long to wait before calling a scenario incomplete, in seconds."""

    #: After the driver's ``sent``, at most this long for the rest to arrive.
    after_sent: float = 60.0
    #: After the driver's ``sent``, give up once no frame came for this long.
    idle: float = 10.0
    #: A burst's saves must be done in this long (paced: their schedule, plus this).
    driver: float = 300.0
    #: After an incomplete scenario, the stream must fall quiet (no frame for
    #: ``quiet`` seconds) within ``drain`` seconds, or the next scenarios are skipped:
    #: they would measure the server still working off this one's backlog.
    quiet: float = 2.0
    drain: float = 120.0


@dataclass
class Context:
    """What every measurement of one harness run shares."""

    run_id: str
    logs: Path
    scenarios: list[Scenario]
    limits: Limits = field(default_factory=Limits)
    #: ``gc.set_threshold`` arguments for every server process ("50000,20,100"), or None.
    gc_threshold: str | None = None


def shout(message: str) -> None:
    """Print a problem so that it cannot be missed in the scrolling output."""
    bar = "!" * 78
    print(f"\n{bar}\n{message}\n{bar}\n", flush=True)


async def measure(system: System, kind: str, n: int, context: Context) -> dict[str, Any]:
    """Measure ``system`` on server ``kind`` with ``n`` subscribers; a JSON-able record."""
    label = f"{system.name}-{kind}-{n}" + ("-gc" if context.gc_threshold else "")
    record: dict[str, Any] = {
        "system": system.name,
        "server": kind,
        "n": n,
        "redis_prefix": f"bench.{context.run_id}.{label}",
        "gc_threshold": context.gc_threshold,
        "scenarios": [],
        "error": None,
    }
    extra_env = {"BENCH_REDIS_PREFIX": record["redis_prefix"]}
    port = free_port()
    serving = system.server(kind, port)  # type: ignore[arg-type]
    if context.gc_threshold:
        serving = with_gc_threshold(serving)
        extra_env["BENCH_GC_THRESHOLD"] = context.gc_threshold
    server: Server | None = None
    driver: Driver | None = None
    poster: Driver | None = None
    clients: Clients | None = None
    try:
        server = Server(
            f"{label} server",
            serving,
            extra_env,
            context.logs / f"{label}-server.log",
        )
        await server.wait_port(port)
        driver = await Driver.start(
            f"{label} driver", system.driver(), extra_env, context.logs / f"{label}-driver.log"
        )
        await driver.expect("ready", 120)
        if any(scenario.post for scenario in context.scenarios):
            poster = await Driver.start(
                f"{label} poster",
                system.poster(port),
                extra_env,
                context.logs / f"{label}-poster.log",
            )
            await poster.expect("ready", 60)
        recorder = Recorder()
        url, origin = system.url(port), f"http://127.0.0.1:{port}"
        # One client first, so that what a server builds on its first connection
        # (a Redis connection, a listener, imports) is not counted per subscriber.
        primer = Clients(system, url, origin, recorder)
        await primer.connect(1)
        await primer.close()
        record["rss_before"] = server.rss_bytes()
        clients = Clients(system, url, origin, recorder)
        started = time.monotonic()
        await clients.connect(n)
        record["connect_s"] = time.monotonic() - started
        record["rss_after"] = server.rss_bytes()
        record["rss_per_subscriber"] = (record["rss_after"] - record["rss_before"]) / n
        record["warmup_tries"] = await warm_up(driver, recorder, n)
        if poster is not None:
            # The server's first request (its URL resolver, a database connection
            # in the view's thread) is not a scenario's.
            record["post_warmup_tries"] = await warm_up(poster, recorder, n, POST_WARMUP_FIRST)
        busy = False
        for index, scenario in enumerate(context.scenarios):
            if busy:
                record["scenarios"].append(skipped(scenario, n))
                continue
            first = (index + 1) * SEQ_STRIDE
            saver = poster if scenario.post else driver
            assert saver is not None
            result = await run_scenario(
                system, scenario, first, n, server, saver, clients, recorder, context.limits
            )
            record["scenarios"].append(result)
            report_problems(label, result)
            if result["outcome"] != "complete" and index + 1 < len(context.scenarios):
                started = time.monotonic()
                busy = not await quiet(recorder, context.limits)
                result["drain_s"] = time.monotonic() - started
                if busy:
                    shout(
                        f"{label}: frames still arriving {context.limits.drain:.0f} s after "
                        f"{scenario.name}; the next scenarios are skipped"
                    )
    except Exception as error:
        record["error"] = str(error)
        shout(f"FAILED {label}: {error}")
        for started_process in (server, driver, poster):
            if started_process is not None and str(started_process.log) not in str(error):
                print(f"tail of {started_process.log}:\n{tail(started_process.log)}\n")
    finally:
        if clients is not None:
            await clients.close()
        if driver is not None:
            await driver.stop()
        if poster is not None:
            await poster.stop()
        if server is not None:
            await server.stop()
    return record


async def warm_up(driver: Driver, recorder: Recorder, n: int, first: int = 1) -> int:
    """Broadcast until every client got one message; how many broadcasts it took.

    Repeats because a subscription some systems cannot confirm (the limit's
    listener, say) may not be in effect for the first one.
    """
    recorder.open(first, WARMUP_TRIES, n, goal="any")
    return await broadcast_until_reached(driver, recorder, n, first)


async def broadcast_until_reached(
    driver: Driver, recorder: Recorder | Fleet, n: int, first: int
) -> int:
    """The warm-up's broadcasts, once the window from ``first`` is open (goal "any")."""
    for attempt in range(WARMUP_TRIES):
        await driver.command(f"send 1 0 {first + attempt}")
        await driver.expect("sent", 60)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(recorder.done.wait(), WARMUP_WAIT)
            return attempt + 1
    raise RuntimeError(
        f"warm-up: only {recorder.reached} of {n} clients received any of {WARMUP_TRIES} broadcasts"
    )


async def quiet(recorder: Recorder, limits: Limits) -> bool:
    """Wait until no frame arrived for ``limits.quiet`` s; false if not within ``limits.drain``."""
    deadline = time.monotonic() + limits.drain
    while True:
        silent = time.monotonic() - recorder.last_frame
        if silent >= limits.quiet:
            return True
        if time.monotonic() > deadline:
            return False
        # Silence has no event to await: look again when it could have lasted long enough.
        await asyncio.sleep(limits.quiet - silent)


def skipped(scenario: Scenario, n: int) -> dict[str, Any]:
    """The record of a scenario not run, with no figures."""
    return {
        "scenario": scenario.name,
        "count": scenario.count,
        "rate": scenario.rate,
        "expected": n * scenario.count,
        "delivered": 0,
        "lost": 0,
        "duplicates": 0,
        "stray": 0,
        "outcome": "skipped",
        **dict.fromkeys(("p50_ms", "p99_ms", "max_ms", "mean_ms", "cpu_us_per_delivery"), None),
        "protocol_errors": 0,
        "disconnects": {},
    }


async def run_scenario(
    system: System,
    scenario: Scenario,
    first: int,
    n: int,
    server: Server,
    driver: Driver,
    clients: Clients,
    recorder: Recorder,
    limits: Limits,
) -> dict[str, Any]:
    """Run ``scenario`` from sequence number ``first``; its figures.

    ``driver`` is the process that makes the broadcasts: the poster, if the scenario posts.
    """
    how = ", each saved by a POST to the server" if scenario.post else ""
    print(f"  {scenario.name}: {scenario.count} broadcasts to {n} clients{how}", flush=True)
    recorder.open(first, scenario.count, n)
    errors_before = getattr(system, "protocol_errors", 0)
    closed_before = len(clients.closed)
    cpu_before, driver_cpu_before = server.cpu_seconds(), driver.cpu_seconds()
    client_cpu_before = time.process_time()
    machine_before = machine_busy_seconds()
    started = time.time()
    await driver.command(scenario.command(first))
    schedule = scenario.count / scenario.rate if scenario.rate else 0.0
    sent = asyncio.create_task(driver.expect("sent", schedule * 1.5 + limits.driver))
    sent_after: list[float] = []
    sent.add_done_callback(lambda _: sent_after.append(time.time() - started))
    try:
        outcome = await wait_for_deliveries(recorder, sent, [server], limits)
        if not sent.done():
            await sent
    finally:
        sent.cancel()
    cpu = server.cpu_seconds() - cpu_before
    driver_cpu = driver.cpu_seconds() - driver_cpu_before
    client_cpu = time.process_time() - client_cpu_before
    # Whatever else ran meanwhile: Redis, and any work foreign to the benchmark.
    other_cpu = machine_busy_seconds() - machine_before - cpu - driver_cpu - client_cpu
    latencies = sorted(recorder.latencies)
    delivered = recorder.delivered
    end = recorder.last_receive or time.time()
    return {
        "scenario": scenario.name,
        "count": scenario.count,
        "rate": scenario.rate,
        "expected": recorder.expected,
        "delivered": delivered,
        "lost": recorder.expected - delivered,
        "duplicates": recorder.duplicates,
        "stray": recorder.stray,
        "outcome": outcome,
        "p50_ms": percentile(latencies, 0.50) * 1e3 if latencies else None,
        "p99_ms": percentile(latencies, 0.99) * 1e3 if latencies else None,
        "max_ms": latencies[-1] * 1e3 if latencies else None,
        "mean_ms": sum(latencies) / len(latencies) * 1e3 if latencies else None,
        # How long the driver (or the poster) took to save them all: a burst's offered rate.
        "send_s": sent_after[0] if sent_after else None,
        "duration_s": end - started,
        "deliveries_per_s": delivered / (end - started) if delivered else 0.0,
        "server_cpu_s": cpu,
        "cpu_us_per_delivery": cpu / delivered * 1e6 if delivered else None,
        "driver_cpu_us_per_broadcast": driver_cpu / scenario.count * 1e6,
        "client_cpu_us_per_delivery": client_cpu / delivered * 1e6 if delivered else None,
        "other_cpu_s": other_cpu,
        "protocol_errors": getattr(system, "protocol_errors", 0) - errors_before,
        "disconnects": dict(Counter(clients.closed[closed_before:])),
    }


async def wait_for_deliveries(
    recorder: Recorder | Fleet,
    sent: asyncio.Task[None],
    servers: Sequence[Server],
    limits: Limits,
) -> str:
    """Wait until every delivery arrived ("complete"), or give up ("timeout", "idle").

    Gives up ``limits.after_sent`` seconds after the driver's ``sent``, or once
    no frame arrived for ``limits.idle`` seconds after it: a saturated server
    must not hang the run. Raises if the driver or one of ``servers`` fails.
    """
    done = asyncio.create_task(recorder.done.wait())
    sent_at: float | None = None
    try:
        while not done.done():
            if sent.done() and sent_at is None:
                sent.result()  # raises if the driver failed
                sent_at = time.monotonic()
            for server in servers:
                if server.returncode() is not None:
                    raise RuntimeError(server.describe_failure("the server died"))
            if sent_at is not None:
                now = time.monotonic()
                if now - sent_at > limits.after_sent:
                    return "timeout"
                if now - max(recorder.last_frame, sent_at) > limits.idle:
                    return "idle"
            waiting = {done} if sent.done() else {done, sent}
            # Wakes on completion at once; the timeout only paces the checks above.
            await asyncio.wait(waiting, timeout=1.0, return_when=asyncio.FIRST_COMPLETED)
        return "complete"
    finally:
        done.cancel()


def report_problems(label: str, result: dict[str, Any]) -> None:
    """Print a scenario's losses, duplicates and disconnects loudly."""
    problems = []
    if result["lost"]:
        problems.append(
            f"LOST {result['lost']} of {result['expected']} deliveries "
            f"({result['outcome']}: waited {result['duration_s']:.1f} s)"
        )
    if result["duplicates"]:
        problems.append(f"{result['duplicates']} duplicate deliveries")
    if result["disconnects"]:
        problems.append(
            f"{sum(result['disconnects'].values())} sockets closed by the server "
            f"(codes: {sorted(result['disconnects'])})"
        )
    if result["protocol_errors"]:
        print(
            f"    warning: {result['protocol_errors']} error frames from the server "
            f"(does it know every frame the client sends, acks included?)",
            flush=True,
        )
    busy = result["other_cpu_s"] / max(result["duration_s"], 1e-3)
    if busy > 0.25:
        print(
            f"    warning: other processes (Redis, or work foreign to the benchmark) used "
            f"{busy:.0%} of a core meanwhile: the figures may be disturbed",
            flush=True,
        )
    if problems:
        shout(f"{label} {result['scenario']}: " + "; ".join(problems))
    else:
        print(
            f"    ok: p50 {result['p50_ms']:.1f} ms, p99 {result['p99_ms']:.1f} ms, "
            f"{result['cpu_us_per_delivery']:.1f} µs CPU per delivery",
            flush=True,
        )
