"""What the TUI knows of the daemon: the app owns one `DaemonState` and hands it to screens."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

NOTICES_KEPT = 5


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
    """

    bus: str
    connected: bool = False
    problem: str = "connecting…"
    props: dict[str, Any] = field(default_factory=dict)
    log: list[str] = field(default_factory=list)
    ledger: dict[str, Any] | None = None
    notice: str = ""
    notices: list[str] = field(default_factory=list)

    def add_notice(self, text: str) -> None:
        """Show `text` on the notice line and keep it in the short history."""
        self.notice = text
        self.notices = [*self.notices[-(NOTICES_KEPT - 1) :], text]

    def get(self, name: str, default: Any = None) -> Any:
        """One property, `default` when unknown."""
        return self.props.get(name, default)
