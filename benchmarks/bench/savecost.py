"""The save-cost micro-benchmark, run in a subprocess: ``systems/turbo/savecost.py``."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from typing import TYPE_CHECKING, Any

from bench.procs import tail
from bench.systems import SYSTEMS_DIR

if TYPE_CHECKING:
    from pathlib import Path

#: (creates, rows, repeats) of a full run and of --quick.
FULL = (2000, 100_000, 5)
QUICK = (300, 10_000, 3)
LAYERS = ("memory", "redis")


def run(quick: bool, logs: Path, prefix: str) -> list[dict[str, Any]]:
    """One result per channel layer; a failed one carries ``error`` instead of figures."""
    creates, rows, repeats = QUICK if quick else FULL
    results = []
    for layer in LAYERS:
        print(f"save cost, {layer} layer: {creates} creates, {rows} rows", flush=True)
        log = logs / f"savecost-{layer}.log"
        argv = [
            *(sys.executable, "savecost.py", "--layer", layer, "--creates", str(creates)),
            *("--rows", str(rows), "--repeats", str(repeats)),
        ]
        with log.open("w") as errors:
            done = subprocess.run(
                argv,
                cwd=SYSTEMS_DIR / "turbo",
                env={**os.environ, "BENCH_REDIS_PREFIX": prefix},
                stdout=subprocess.PIPE,
                stderr=errors,
                text=True,
                timeout=1800,
                check=False,
            )
        if done.returncode:
            results.append({"layer": layer, "error": f"exit {done.returncode}: {tail(log, 5)}"})
            print(f"!!! save cost ({layer}) failed; tail of {log}:\n{tail(log)}", flush=True)
        else:
            results.append(json.loads(done.stdout.strip().splitlines()[-1]))
    return results
