"""What the TUI knows of the daemon: the app owns one `DaemonState` and hands it to screens."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

NOTICES_KEPT = 5
HISTORY_KEPT = 3  # stops and finished jobs the overview lists


@dataclass(frozen=True)
class Stop:
    """A hard stop the daemon reported: when it arrived (``HH:MM:SS``), why, how long it took."""

    at: str
    trigger: str
    latency_ms: float


@dataclass(frozen=True)
class JobDone:
    """A finished job: when it was reported, its model and outcome, its run time (None when
    the TUI never saw it running)."""

    at: str
    job_id: str
    model: str
    outcome: str
    ms: float | None


@dataclass
class DaemonState:
    """The latest facts from the daemon.

    Attributes:
        bus: the bus the TUI talks to.
        connected: whether the daemon answers now.
        problem: why it does not (shown in the banner).
        props: the API's properties, JSON ones decoded.
        log: the most recent log lines.
        ledger: {"statement": ..., "recent": [...]} or {"error": text}; None before loading.
        notice: the outcome of the last action (drain, test stop, ...) or the last stop.
        notices: the most recent notices, newest last.
        as_of: when the daemon last answered (``HH:MM:SS``), empty before it ever did: while
            it is away, every value shown is as of then.
        stops: the last hard stops reported since the TUI started, newest last.
        jobs_done: the last finished jobs reported since the TUI started, newest last.
    """

    bus: str
    connected: bool = False
    problem: str = "connecting…"
    props: dict[str, Any] = field(default_factory=dict)
    log: list[str] = field(default_factory=list)
    ledger: dict[str, Any] | None = None
    notice: str = ""
    notices: list[str] = field(default_factory=list)
    as_of: str = ""
    stops: list[Stop] = field(default_factory=list)
    jobs_done: list[JobDone] = field(default_factory=list)

    def add_notice(self, text: str) -> None:
        """Show `text` on the notice line and keep it in the short history."""
        self.notice = text
        self.notices = [*self.notices[-(NOTICES_KEPT - 1) :], text]

    def add_stop(self, stop: Stop) -> None:
        """Keep `stop` in the short history."""
        self.stops = [*self.stops[-(HISTORY_KEPT - 1) :], stop]

    def add_job(self, job: JobDone) -> None:
        """Keep `job` in the short history."""
        self.jobs_done = [*self.jobs_done[-(HISTORY_KEPT - 1) :], job]

    def stale(self) -> str:
        """How a value read from `props` must be qualified now: empty while connected,
        ``as of HH:MM:SS`` while the daemon is away, ``unknown`` before it ever answered."""
        if self.connected:
            return ""
        return f"as of {self.as_of}" if self.as_of and self.props else "unknown"

    def get(self, name: str, default: Any = None) -> Any:
        """One property, `default` when unknown."""
        return self.props.get(name, default)
