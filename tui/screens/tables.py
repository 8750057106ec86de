"""Workers and Jobs: live tables of the worker processes and the jobs running."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from textual.widget import Widget
from textual.widgets import DataTable, Static

from tui.format import DASH, current, number
from tui.screens.base import DaemonScreen
from tui.state import DaemonState


class _TableScreen(DaemonScreen):
    PROPERTY = ""
    COLUMNS: tuple[tuple[str, str], ...] = ()  # (heading, key)
    EMPTY = ""

    def compose_body(self) -> Iterable[Widget]:
        table: DataTable[str] = DataTable(cursor_type="row")
        table.add_columns(*(h for h, _ in self.COLUMNS))
        yield table
        yield Static(id="table-empty")

    def show_body(self, state: DaemonState) -> None:
        table: DataTable[str] = self.query_one(DataTable)
        table.clear()
        rows = state.get(self.PROPERTY) or []
        away = state.stale()
        for row in rows:
            cells = [self.cell(row, key) for _, key in self.COLUMNS]
            # While the daemon is away a worker or job may have changed: its state is unknown.
            table.add_row(
                *(
                    current(c, away) if key == "state" else c
                    for c, (_, key) in zip(cells, self.COLUMNS, strict=True)
                )
            )
        self.query_one("#table-empty", Static).update("" if rows else self.EMPTY)

    def cell(self, row: dict[str, Any], key: str) -> str:
        value = row.get(key)
        return DASH if value is None else str(value)


class WorkersScreen(_TableScreen):
    """The inference workers: model, device, confinement, last stop, memory."""

    MODE = "workers"
    PROPERTY = "WorkersJson"
    COLUMNS = (
        ("Id", "id"),
        ("Model", "model"),
        ("Device", "device"),
        ("State", "state"),
        ("Confinement", "confinement"),
        ("Stop ms", "last_stop_ms"),
        ("MB", "memory_mb"),
    )
    EMPTY = "no workers running"

    def cell(self, row: dict[str, Any], key: str) -> str:
        if key == "last_stop_ms":
            return number(row.get(key), "", 2)
        return super().cell(row, key)


class JobsScreen(_TableScreen):
    """Jobs running or queued now."""

    MODE = "jobs"
    PROPERTY = "JobsJson"
    COLUMNS = (
        ("Job", "id"),
        ("Model", "model"),
        ("State", "state"),
        ("Worker", "worker"),
        ("Started", "started"),
        ("Elapsed", "elapsed_s"),
    )
    EMPTY = "no jobs running"

    def cell(self, row: dict[str, Any], key: str) -> str:
        if key == "elapsed_s":
            return number(row.get(key), " s", 1)
        if key == "started":
            return str(row.get(key) or DASH)[11:19] or DASH
        return super().cell(row, key)
