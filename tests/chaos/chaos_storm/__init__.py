"""The chaos test's storm of faults, one module per promise it attacks.

* `storm`: `StormBase`, the record, the client's jobs, the waits, the kills and restarts, the
  timed SIGTERM and the settling at the end (and the timings they share with the test).
* `kills`: `KillFaults`, SIGKILLs of the daemon at random and at a job's worst moments.
* `shutdown`: `ShutdownFaults`, SIGTERMs mid-job.
* `outages`: `OutageFaults`, the worker killed, broker outages, power cuts.

`Storm` is all of them; the test calls its faults by name in a seeded order.
"""

from __future__ import annotations

from dataclasses import dataclass

from .kills import KillFaults
from .outages import OutageFaults
from .shutdown import ShutdownFaults
from .storm import (
    JOB_DEADLINE_S,
    JOB_PATIENCE_S,
    MOMENT_TIMEOUT_S,
    READY_TIMEOUT_S,
    SHUTDOWN_GRACE_S,
    StormBase,
)


@dataclass
class Storm(KillFaults, ShutdownFaults, OutageFaults):
    """Injects the faults into `world` and keeps the record of what it did."""


__all__ = [
    "JOB_DEADLINE_S",
    "JOB_PATIENCE_S",
    "MOMENT_TIMEOUT_S",
    "READY_TIMEOUT_S",
    "SHUTDOWN_GRACE_S",
    "Storm",
    "StormBase",
]
