"""Vehicle: every signal the daemon reads, its value (with its unit) and age; stale ones marked,
and all of them while the daemon is away (their ages then are at least what is shown)."""

from __future__ import annotations

from collections.abc import Iterable

from rich.text import Text
from textual.widget import Widget
from textual.widgets import DataTable

from tui.format import number, short_path, signal
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
        away = state.stale()
        for sig in state.get("VehicleJson") or []:
            path = str(sig["path"]).removeprefix("Vehicle.")
            age = number(sig.get("age_s"), " s", 1)
            if sig.get("stale"):
                mark = Text("STALE", style="bold red")
            elif away:
                mark, age = Text(away, style="yellow"), f"≥{age}"
            else:
                mark = Text("")
            table.add_row(
                short_path(path, PATH_WIDTH),
                signal(path, sig.get("value")),
                age,
                mark,
                key=sig["path"],
            )


PATH_WIDTH = 40  # leaves room for value, age and the "as of" mark in 80 columns
