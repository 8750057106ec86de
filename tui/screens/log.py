"""Log: the daemon's recent log lines, live, filtered by level and by a search text."""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import ClassVar

from textual.binding import Binding, BindingType
from textual.containers import Horizontal
from textual.widget import Widget
from textual.widgets import Input, Log, Static

from tui.screens.base import DaemonScreen
from tui.state import DaemonState

# The minimum levels `l` steps through; "all" keeps lines that name no level, too.
LEVELS = ("all", "INFO", "WARNING", "ERROR")
RANK = {"DEBUG": 0, "INFO": 1, "WARNING": 2, "ERROR": 3, "CRITICAL": 4}
LEVEL_RE = re.compile(r"\b(DEBUG|INFO|WARNING|ERROR|CRITICAL)\b")


def shown(lines: Iterable[str], level: str, search: str) -> list[str]:
    """The lines at `level` or above (a line's first level word) that contain `search`
    (case-insensitive); `level` "all" keeps every line."""
    needle = search.casefold()
    floor = RANK.get(level, -1)
    out = []
    for line in lines:
        if needle and needle not in line.casefold():
            continue
        if floor >= 0:
            found = LEVEL_RE.search(line)
            if found is None or RANK[found.group(1)] < floor:
                continue
        out.append(line)
    return out


class LogScreen(DaemonScreen):
    """The daemon's log, newest at the bottom; ``l`` the level, ``/`` the search."""

    MODE = "log"
    AUTO_FOCUS = "#log"  # not the search: the screen keys must work until `/` is pressed
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("l", "next_level", "Level"),
        Binding("slash", "search", "Search", key_display="/"),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.level = LEVELS[0]
        self.lines: list[str] = []

    def compose_body(self) -> Iterable[Widget]:
        with Horizontal(id="log-controls"):
            yield Static(id="log-level")
            yield Input(placeholder="press / (Enter keeps it, Esc clears it)", id="log-search")
        yield Log(id="log", highlight=False)

    def show_body(self, state: DaemonState) -> None:
        self.lines = list(state.log)
        self._refilter()

    def _refilter(self) -> None:
        search = self.query_one("#log-search", Input).value
        lines = shown(self.lines, self.level, search)
        level = f"≥ {self.level}" if self.level != "all" else "all"
        self.query_one("#log-level", Static).update(
            f"level {level}  {len(lines)}/{len(self.lines)} lines  search:"
        )
        log = self.query_one(Log)
        log.clear()
        log.write_lines(lines)

    def action_next_level(self) -> None:
        self.level = LEVELS[(LEVELS.index(self.level) + 1) % len(LEVELS)]
        self._refilter()

    def action_search(self) -> None:
        self.query_one("#log-search", Input).focus()

    def on_input_changed(self, event: Input.Changed) -> None:
        self._refilter()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        self.query_one(Log).focus()

    def key_escape(self) -> None:
        search = self.query_one("#log-search", Input)
        if search.has_focus:
            search.value = ""
            self.query_one(Log).focus()
