"""Real-time scheduling for the thread that runs the hot path.

On the car the workers keep the CPU busy (tokenising, launching kernels, CPU inference), and the
task that reads the CAN socket must still run the moment a door frame arrives. A modest
SCHED_FIFO priority gives it the CPU ahead of every normal process. SCHED_RESET_ON_FORK keeps
the privilege from leaking into the worker processes the daemon starts.
"""

from __future__ import annotations

import logging
import os

LOG = logging.getLogger(__name__)


def enter_realtime(priority: int) -> str:
    """Give the calling thread SCHED_FIFO at `priority` (0: leave it as it is).

    Returns a short description of the scheduling now in force, for logs and benchmarks.
    Never raises: without the privilege (CAP_SYS_NICE, or an RLIMIT_RTPRIO) it logs a warning
    and the thread keeps the normal policy.
    """
    if priority <= 0:
        return "normal"
    try:
        os.sched_setscheduler(0, os.SCHED_FIFO | os.SCHED_RESET_ON_FORK, os.sched_param(priority))
    except (PermissionError, OSError) as exc:
        LOG.warning("cannot use real-time priority %d for the hot path: %s", priority, exc)
        return "normal (real-time refused)"
    return f"SCHED_FIFO {priority}"


def leave_realtime() -> None:
    """Return the calling thread to normal scheduling."""
    os.sched_setscheduler(0, os.SCHED_OTHER, os.sched_param(0))
