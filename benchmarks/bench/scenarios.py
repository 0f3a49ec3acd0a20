"""The broadcast patterns measured, in the full and the --quick configuration."""

from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass(frozen=True)
class Scenario:
    """``count`` broadcasts at ``rate`` per second (0: as fast as the driver can save).

    With ``post``, each broadcast is saved by the server under test itself: the
    poster (``bench/poster.py``) sends a form POST to the system's save view,
    in the process that holds the sockets, as a deployment's views do.

    With ``clients``, a scale scenario (``bench/scale.py``): that many pages on
    two server processes behind a balancer, measured on its own rather than at
    each ``--n``.
    """

    name: str
    count: int
    rate: float
    post: bool = False
    clients: int = 0

    def command(self, first: int) -> str:
        """The driver command that runs this scenario from sequence number ``first``."""
        return f"send {self.count} {self.rate:g} {first}"


FULL: dict[str, Scenario] = {
    s.name: s
    for s in (
        Scenario("paced-2", 10, 2),
        # DESIGN.md's reference point: daphne's fan-out to 1000 sockets still
        # has a core to spare at 10/s, and is near saturation at 20/s.
        Scenario("paced-10", 100, 10),
        # Issue 19: the same load, saved by a view of the server under test.
        Scenario("post-paced-10", 100, 10, post=True),
        Scenario("paced-20", 100, 20),
        Scenario("burst-1000", 1000, 0),
        # Issue 19: 10,000 live pages on one 2-core box, one save a second for a minute.
        Scenario("scale-10k", 60, 1, clients=10_000),
    )
}

#: --quick: a smoke test of every moving part, in seconds rather than minutes.
QUICK: dict[str, Scenario] = {
    s.name: s
    for s in (
        Scenario("paced-20", 20, 20),
        Scenario("post-paced-20", 20, 20, post=True),
        Scenario("burst-50", 50, 0),
    )
}

#: Not in the full run (its burst-1000 is a larger load): issue 6's load test,
#: 1000 subscribers x 200 broadcasts, which CI runs with ``--fail-on-loss``.
LOAD: dict[str, Scenario] = {s.name: s for s in (Scenario("burst-200", 200, 0),)}

#: The scenario the plot shows.
PLOTTED = "paced-20"


def percentile(ordered: list[float], fraction: float) -> float:
    """The nearest-rank percentile of an ascending list (``fraction`` in 0..1)."""
    if not ordered:
        return float("nan")
    # ceil(fraction * n), minus a hair: 0.29 * 100 is 29.000000000000004.
    rank = math.ceil(fraction * len(ordered) - 1e-9)
    return ordered[min(max(rank, 1), len(ordered)) - 1]
