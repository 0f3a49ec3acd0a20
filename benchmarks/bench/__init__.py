"""The benchmark harness: systems under test, clients, processes, measurement, report.

Kept free of third-party imports at package level: the drivers of the systems
import :mod:`bench.driveloop` from their own processes.
"""

from __future__ import annotations
