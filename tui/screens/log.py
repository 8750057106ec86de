"""Log: the daemon's recent log lines, live."""

from __future__ import annotations

from collections.abc import Iterable

from textual.widget import Widget
from textual.widgets import Log

from tui.screens.base import DaemonScreen
from tui.state import DaemonState


class LogScreen(DaemonScreen):
    """The daemon's log, newest at the bottom."""

    MODE = "log"

    def compose_body(self) -> Iterable[Widget]:
        yield Log(id="log", highlight=False)

    def show_body(self, state: DaemonState) -> None:
        log = self.query_one(Log)
        log.clear()
        log.write_lines(state.log)
