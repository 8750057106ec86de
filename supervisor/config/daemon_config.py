"""The ``[daemon]`` configuration section: paths, logging and the systemd watchdog."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Literal

from msgspec import Meta


@dataclass(frozen=True, slots=True)
class DaemonConfig:
    """``[daemon]``: process-wide settings."""

    state_dir: Annotated[Path, Meta(description="sqlite databases and keys")] = Path(
        "/var/lib/parkmesh"
    )
    runtime_dir: Annotated[Path, Meta(description="runtime files: the running daemon's lock")] = (
        Path("/run/parkmesh")
    )
    log_level: Annotated[
        Literal["debug", "info", "warning", "error"], Meta(description="log level")
    ] = "info"
    shutdown_grace_s: Annotated[
        float,
        Meta(
            ge=0.1,
            le=60.0,
            description="how long a SIGTERM may take: the running job is answered and recorded",
        ),
    ] = 5.0
    realtime_priority: Annotated[
        int,
        Meta(
            ge=0,
            le=99,
            description="SCHED_FIFO priority of the hot path's thread (0: normal scheduling)",
        ),
    ] = 10
