"""Vehicle: every signal the daemon reads, its value and age; stale ones marked."""

from __future__ import annotations

from collections.abc import Iterable

from rich.text import Text
from textual.widget import Widget
from textual.widgets import DataTable

from tui.format import number, value
from tui.screens.base import DaemonScreen
from tui.state import DaemonState


class VehicleScreen(DaemonScreen):
    """Live vehicle signals (VSS paths, shortened to fit)."""

    MODE = "vehicle"

    def compose_body(self) -> Iterable[Widget]:
        table: DataTable[str | Text] = DataTable(id="vehicle-table", cursor_type="row")
        table.add_columns("Signal", "Value", "Age", "")
        yield table

    def show_body(self, state: DaemonState) -> None:
        table: DataTable[str | Text] = self.query_one(DataTable)
        table.clear()
        for signal in state.get("VehicleJson") or []:
            path = str(signal["path"]).removeprefix("Vehicle.")
            stale = Text("STALE", style="bold red") if signal.get("stale") else Text("")
            table.add_row(
                _short(path),
                value(signal.get("value")),
                number(signal.get("age_s"), " s", 1),
                stale,
                key=signal["path"],
            )


PATH_WIDTH = 44  # leaves room for value, age and the stale mark in 80 columns


def _short(path: str) -> str:
    """A VSS path that fits: leading components give way first (the leaf says most)."""
    if len(path) <= PATH_WIDTH:
        return path
    return "…" + path[-(PATH_WIDTH - 1) :].split(".", 1)[-1]
