"""The scale scenario (issue 19): N live pages on two server processes behind a real balancer.

Per (system, server) the harness starts two server processes of the system on
two ports, a balancer in front of them (:mod:`bench.balancer`), the system's
driver (its own process, with the servers' database and channel layer) and N
clients spread over client processes (:class:`bench.fleet.Fleet`), all through
the balancer. Then, for a system whose clients can resume (``resumes``: turbo),
two phases, each one save a second for a minute; for the others the first only:

- *steady*: the figures of the issue's target (lost, p50/p99, server CPU per
  delivery, RSS per subscriber, and what the clients and the balancer cost);
- *kill*: half-way through (``kill_at``), one server process is SIGKILLed; each
  of its clients reconnects through the balancer, as the browser's client does,
  and subscribes from the position it last applied; measured: the time from
  the kill until each was back and held every message saved before it was
  back, against ``bound``, and that nothing was lost.

A system that cannot hold N (a client fails to connect, or a message is lost
in the steady phase) is measured again at the next N of :func:`ladder`, down to
a tenth of it, and the record says which N it survived.
"""

from __future__ import annotations

import asyncio
import signal
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from bench.balancer import balancer
from bench.clients import Clients, Recorder, raise_open_files_limit
from bench.fleet import Fleet
from bench.procs import Driver, Server, free_port, machine_busy_seconds, tail, with_gc_threshold
from bench.runner import (
    SEQ_STRIDE,
    WARMUP_TRIES,
    broadcast_until_reached,
    report_problems,
    shout,
    wait_for_deliveries,
)
from bench.scenarios import percentile

if TYPE_CHECKING:
    from bench.runner import Context
    from bench.scenarios import Scenario
    from bench.system import Server as ServerKind
    from bench.system import System

#: Descriptors the harness and what it starts may hold: a server all N sockets
#: once the other is killed, and Redis connections and the like.
OPEN_FILES = 65536
#: How many server processes share the sockets.
SERVERS = 2


@dataclass
class ScaleOptions:
    """How the scale scenario runs (``--scale-clients``, ``--client-procs``, ``--balancer``)."""

    #: The N tried first (the scenario's, unless given).
    clients: int | None = None
    procs: int = 4
    balancer: str = "nginx"
    #: Seconds after the kill phase's first save when a server process is killed.
    kill_at: float = 30.0
    #: The recovery the kill phase must stay within, in seconds (see the README).
    bound: float = 10.0


def ladder(n: int) -> list[int]:
    """The Ns tried in turn until one survives: ``n``, then a half, a fifth, a tenth of it."""
    found: list[int] = []
    for each in (n, n // 2, n // 5, n // 10):
        if each >= 1 and each not in found:
            found.append(each)
    return found


async def measure_scale(
    system: System, kind: ServerKind, scenario: Scenario, options: ScaleOptions, context: Context
) -> dict[str, Any]:
    """The scale scenario for ``system`` on ``kind``: down the ladder until one N survives."""
    top = options.clients or scenario.clients
    attempts = []
    for n in ladder(top):
        print(f"\n== {scenario.name}: {system.name} on {kind}, N={n} ==", flush=True)
        attempt = await Attempt(system, kind, n, scenario, options, context).run()
        attempts.append(attempt)
        if attempt["survived"]:
            break
        shout(f"{system.name} on {kind} did not hold N={n}: {why_not(attempt)}")
        if attempt["stage"] == "start":
            break  # the processes did not start: a smaller N cannot help
    survivors = [a["n"] for a in attempts if a["survived"]]
    return {
        "system": system.name,
        "server": kind,
        "scenario": scenario.name,
        "balancer": options.balancer,
        "client_procs": options.procs,
        "n_tried": top,
        "n_survived": survivors[0] if survivors else None,
        "attempts": attempts,
    }


def why_not(attempt: dict[str, Any]) -> str:
    """Why an attempt did not survive, in one line."""
    if attempt["error"]:
        return attempt["error"].splitlines()[0]
    if attempt["connected"] < attempt["n"]:
        return f"{attempt['n'] - attempt['connected']} clients failed to connect"
    steady = attempt["phases"][0]
    return f"lost {steady['lost']} of {steady['expected']} ({steady['outcome']})"


class Attempt:
    """One N: the processes, the connections, and each phase."""

    def __init__(
        self,
        system: System,
        kind: ServerKind,
        n: int,
        scenario: Scenario,
        options: ScaleOptions,
        context: Context,
    ) -> None:
        self.system, self.kind, self.n = system, kind, n
        self.scenario, self.options, self.context = scenario, options, context
        self.label = f"{system.name}-{kind}-{scenario.name}-{n}"
        prefix = f"bench.{context.run_id}.{self.label}"
        self.env = {"BENCH_REDIS_PREFIX": prefix}
        if context.gc_threshold:
            self.env["BENCH_GC_THRESHOLD"] = context.gc_threshold
        self.servers: list[Server] = []
        self.balancer: Server | None = None
        self.driver: Driver | None = None
        self.fleet: Fleet | None = None
        self.record: dict[str, Any] = {
            "n": n,
            "redis_prefix": prefix,
            "connected": 0,
            "phases": [],
            "error": None,
            #: How far it got: "start" (the processes), "connect", "phases".
            "stage": "start",
            "survived": False,
        }

    async def run(self) -> dict[str, Any]:
        record = self.record
        try:
            await self.start()
            record["stage"] = "connect"
            await self.connect()
            record["stage"] = "phases"
            assert self.fleet is not None
            assert self.driver is not None
            if self.fleet.connected:
                await self.fleet.open(1, WARMUP_TRIES, goal="any")
                record["warmup_tries"] = await broadcast_until_reached(
                    self.driver, self.fleet, self.fleet.connected, 1
                )
                await self.phase("steady", 1, kill=False)
                if self.system.resumes and self.options.kill_at:
                    await self.phase("kill", 2, kill=True)
        except Exception as error:
            record["error"] = str(error)
            shout(f"FAILED {self.label}: {error}")
            for process in (*self.servers, self.balancer, self.driver):
                if process is not None and str(process.log) not in str(error):
                    print(f"tail of {process.log}:\n{tail(process.log)}\n")
        finally:
            await self.stop()
        phases = record["phases"]
        record["survived"] = bool(
            not record["error"]
            and record["connected"] == self.n
            and phases
            and phases[0]["lost"] == 0
        )
        return record

    async def start(self) -> None:
        """The servers, the balancer in front of them, and the driver."""
        raise_open_files_limit(OPEN_FILES)
        logs = self.context.logs
        ports: list[int] = []
        while len(ports) < SERVERS:
            port = free_port()
            if port not in ports:
                ports.append(port)
        self.ports = ports
        for index, port in enumerate(ports):
            serving = self.system.server(self.kind, port)
            if self.context.gc_threshold:
                serving = with_gc_threshold(serving)
            name = f"{self.label} server {index}"
            log = logs / f"{self.label}-server-{index}.log"
            self.servers.append(Server(name, serving, self.env, log))
        for server, port in zip(self.servers, ports, strict=True):
            await server.wait_port(port)
        self.front = free_port()
        while self.front in ports:
            self.front = free_port()
        directory = logs.parent.parent / "balancer" / self.label
        command = balancer(self.options.balancer, self.front, ports, directory)
        log = logs / f"{self.label}-{self.options.balancer}.log"
        self.balancer = Server(f"{self.label} {self.options.balancer}", command, {}, log)
        await self.balancer.wait_port(self.front)
        self.driver = await Driver.start(
            f"{self.label} driver",
            self.system.driver(),
            self.env,
            logs / f"{self.label}-driver.log",
        )
        await self.driver.expect("ready", 120)

    async def connect(self) -> None:
        """Prime each server with one client, then connect the fleet through the balancer."""
        system, record = self.system, self.record
        for port in self.ports:
            # What a server builds on its first connection is not per subscriber.
            origin = f"http://127.0.0.1:{port}"
            primer = Clients(system, system.url(port), origin, Recorder())
            await primer.connect(1)
            await primer.close()
        record["rss_before"] = [s.rss_bytes() for s in self.servers]
        cpu_before = self.server_cpu()
        started = time.monotonic()
        self.fleet = await Fleet.start(
            system,
            system.url(self.front),
            f"http://127.0.0.1:{self.front}",
            self.n,
            self.options.procs,
            self.context.logs,
            self.label,
            self.env,
        )
        record["connect_s"] = time.monotonic() - started
        record["connect_server_cpu_s"] = sum(self.server_cpu()) - sum(cpu_before)
        record["connected"] = self.fleet.connected
        record["connect_errors"] = self.fleet.errors
        record["rss_after"] = [s.rss_bytes() for s in self.servers]
        grown = sum(record["rss_after"]) - sum(record["rss_before"])
        record["rss_per_subscriber"] = grown / max(self.fleet.connected, 1)
        print(
            f"  {self.fleet.connected} of {self.n} clients connected in "
            f"{record['connect_s']:.1f} s; {record['rss_per_subscriber'] / 1024:.1f} KiB "
            f"per subscriber over both servers",
            flush=True,
        )

    def server_cpu(self) -> list[float]:
        return [s.cpu_seconds() for s in self.servers]

    async def phase(self, name: str, index: int, kill: bool) -> None:
        """One minute of saves (the scenario's); with ``kill``, one server dies half-way."""
        assert self.fleet is not None
        assert self.driver is not None
        assert self.balancer is not None
        fleet, driver, scenario, limits = (
            self.fleet,
            self.driver,
            self.scenario,
            self.context.limits,
        )
        first = index * SEQ_STRIDE
        how = f", server 1 killed at {self.options.kill_at:g} s" if kill else ""
        print(f"  {name}: {scenario.count} saves at {scenario.rate:g}/s{how}", flush=True)
        await fleet.open(first, scenario.count, receipts=kill)
        server_before, balancer_before = self.server_cpu(), self.balancer.cpu_seconds()
        fleet_before, driver_before = fleet.cpu_seconds(), driver.cpu_seconds()
        machine_before = machine_busy_seconds()
        started = time.time()
        await driver.command(scenario.command(first))
        schedule = scenario.count / scenario.rate if scenario.rate else 0.0
        sent = asyncio.create_task(driver.expect("sent", schedule * 1.5 + limits.driver))
        killed: dict[str, float] = {}
        killer = asyncio.create_task(self.kill_later(killed)) if kill else None
        watched = self.servers[:1] if kill else self.servers
        try:
            outcome = await wait_for_deliveries(fleet, sent, watched, limits)
            if not sent.done():
                await sent
        finally:
            sent.cancel()
            if killer is not None and not killer.done():
                killer.cancel()
        server_after = self.server_cpu()
        if kill and "cpu" in killed:
            server_after[1] = killed["cpu"]  # its group is gone: what it had used then
        server_cpu = sum(server_after) - sum(server_before)
        client_cpu = fleet.cpu_seconds() - fleet_before
        balancer_cpu = self.balancer.cpu_seconds() - balancer_before
        driver_cpu = driver.cpu_seconds() - driver_before
        machine_cpu = machine_busy_seconds() - machine_before
        got = await fleet.report(self.context.logs, f"{self.label}-{name}")
        latencies = sorted(got["latencies"])
        delivered = got["delivered"]
        end = got["last_receive"] or time.time()
        result: dict[str, Any] = {
            "phase": name,
            "scenario": scenario.name,
            "count": scenario.count,
            "rate": scenario.rate,
            "clients": got["clients"],
            "expected": got["expected"],
            "delivered": delivered,
            "lost": got["expected"] - delivered,
            "clients_missing": got["clients_missing"],
            "duplicates": got["duplicates"],
            "stray": got["stray"],
            "outcome": outcome,
            "p50_ms": percentile(latencies, 0.50) * 1e3 if latencies else None,
            "p99_ms": percentile(latencies, 0.99) * 1e3 if latencies else None,
            "max_ms": latencies[-1] * 1e3 if latencies else None,
            "duration_s": end - started,
            "server_cpu_s": server_cpu,
            "cpu_us_per_delivery": server_cpu / delivered * 1e6 if delivered else None,
            "client_cpu_s": client_cpu,
            "client_cpu_us_per_delivery": client_cpu / delivered * 1e6 if delivered else None,
            "balancer_cpu_s": balancer_cpu,
            "driver_cpu_s": driver_cpu,
            # Redis, and any work foreign to the benchmark.
            "other_cpu_s": machine_cpu - server_cpu - client_cpu - balancer_cpu - driver_cpu,
            "protocol_errors": got["protocol_errors"],
            "refreshes": got["refreshes"],
            "disconnects": dict(got["closed"]),
        }
        if kill:
            result.update(recovery(got["outages"], killed.get("at"), self.options.bound))
        self.record["phases"].append(result)
        # The killed server's sockets closed: that is the phase, not a problem.
        report_problems(
            f"{self.label} {name}", {**result, "disconnects": {} if kill else result["disconnects"]}
        )
        print(
            f"    client processes {client_cpu:.1f} s CPU, balancer {balancer_cpu:.1f} s, "
            f"servers {server_cpu:.1f} s, over {result['duration_s']:.0f} s",
            flush=True,
        )
        if kill:
            print(f"    recovery: {recovery_line(result)}", flush=True)

    async def kill_later(self, killed: dict[str, float]) -> None:
        """SIGKILL server 1 ``kill_at`` seconds from now; note when, and its CPU until then."""
        await asyncio.sleep(self.options.kill_at)
        victim = self.servers[1]
        killed["cpu"] = victim.cpu_seconds()
        killed["at"] = time.time()
        victim.kill_group(signal.SIGKILL)

    async def stop(self) -> None:
        if self.fleet is not None:
            await self.fleet.stop()
        if self.driver is not None:
            await self.driver.stop()
        if self.balancer is not None:
            await self.balancer.stop()
        for server in self.servers:
            await server.stop()


def recovery(
    outages: list[dict[str, Any]], killed_at: float | None, bound: float
) -> dict[str, Any]:
    """The kill phase's figures: who lost its socket, who came back, and how fast."""
    if killed_at is None:
        return {"killed_at": None, "dropped": 0, "back": 0, "caught_up": 0, "bound_s": bound}
    # A client's first outage after the kill; any later one is part of its recovery.
    first: dict[str, dict[str, Any]] = {}
    for outage in sorted(outages, key=lambda o: o["closed_at"]):
        if outage["closed_at"] >= killed_at:
            first.setdefault(outage["client"], outage)
    times = sorted(
        o["caught_up_at"] - killed_at for o in first.values() if o["caught_up_at"] is not None
    )
    attempts = [o["attempts"] for o in first.values()]
    worst = times[-1] if times and len(times) == len(first) else None
    return {
        "killed_at": killed_at,
        "dropped": len(first),
        "back": sum(1 for o in first.values() if o["resubscribed_at"] is not None),
        "caught_up": len(times),
        "recovery_p50_s": percentile(times, 0.50) if times else None,
        "recovery_p99_s": percentile(times, 0.99) if times else None,
        "recovery_max_s": worst,
        "attempts_max": max(attempts) if attempts else 0,
        "bound_s": bound,
        "within_bound": worst is not None and worst <= bound,
    }


def recovery_line(result: dict[str, Any]) -> str:
    """The kill phase in one line."""
    if result.get("killed_at") is None:
        return "no server was killed"
    worst = result["recovery_max_s"]
    return (
        f"{result['dropped']} clients lost their socket, {result['back']} back, "
        f"{result['caught_up']} caught up; p50 {result['recovery_p50_s'] or 0:.2f} s, "
        f"max {'never' if worst is None else f'{worst:.2f} s'} "
        f"(bound {result['bound_s']:g} s: {'ok' if result['within_bound'] else 'EXCEEDED'}), "
        f"at most {result['attempts_max']} sockets tried"
    )
