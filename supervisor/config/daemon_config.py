"""The ``[daemon]`` configuration section: paths, logging and the systemd watchdog."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from supervisor.config.sections import setting


@dataclass(frozen=True, slots=True)
class DaemonConfig:
    """``[daemon]``: process-wide settings."""

    state_dir: Path = setting(Path("/var/lib/parkmesh"), doc="sqlite databases and keys")
    runtime_dir: Path = setting(
        Path("/run/parkmesh"), doc="runtime files: the running daemon's lock"
    )
    log_level: Literal["debug", "info", "warning", "error"] = setting("info", doc="log level")
    shutdown_grace_s: float = setting(
        5.0,
        doc="how long a SIGTERM may take: the running job is answered and recorded",
        min=0.1,
        max=60.0,
    )
    realtime_priority: int = setting(
        10,
        doc="SCHED_FIFO priority of the hot path's thread (0: normal scheduling)",
        min=0,
        max=99,
    )
