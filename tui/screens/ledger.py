"""Ledger: this month's statement and the most recent entries."""

from __future__ import annotations

from collections.abc import Iterable

from textual.widget import Widget
from textual.widgets import DataTable

from tui.format import DASH, money, number
from tui.screens.base import DaemonScreen
from tui.state import DaemonState
from tui.widgets.facts import Facts


class LedgerScreen(DaemonScreen):
    """Earnings as the ledger records them (loaded when a job finishes)."""

    MODE = "ledger"

    def compose_body(self) -> Iterable[Widget]:
        yield Facts(id="ledger-totals")
        table: DataTable[str] = DataTable(id="ledger-table", cursor_type="row")
        table.add_columns("#", "Kind", "Job", "Outcome", "kWh", "Credit")
        yield table

    def show_body(self, state: DaemonState) -> None:
        data = state.ledger or {}
        cur = (state.get("EarningsJson") or {}).get("currency", "")
        facts = self.query_one(Facts)
        if "error" in data:
            facts.show_facts([("Ledger", str(data["error"]))])
        else:
            statement = data.get("statement") or {}
            totals = statement.get("totals") or {}
            not_done = statement.get("not_completed") or {}
            apart = (
                ", ".join(f"{v.get('jobs', 0)} {k}" for k, v in not_done.items() if v.get("jobs"))
                or "none"
            )
            facts.show_facts(
                [
                    ("Month", str(statement.get("month", DASH))),
                    ("Jobs", f"{totals.get('jobs', DASH)}  (not completed: {apart})"),
                    (
                        "Compute",
                        f"{number(totals.get('compute_hours'), ' h', 2)}, "
                        f"{number(totals.get('kwh'), ' kWh', 2)}, energy cost "
                        f"{money(totals.get('energy_cost'), cur)}",
                    ),
                    (
                        "Credits",
                        f"accrued {money(totals.get('credits_accrued'), cur)}, "
                        f"paid {money(totals.get('credits_paid'), cur)}, "
                        f"pending {money(totals.get('credits_pending'), cur)}",
                    ),
                ]
            )
        table: DataTable[str] = self.query_one(DataTable)
        table.clear()
        for row in data.get("recent") or []:
            kwh = row.get("energy_wh")
            table.add_row(
                str(row.get("seq")),
                str(row.get("kind")),
                str(row.get("job_id") or row.get("payout_id") or DASH),
                str(row.get("outcome") or DASH),
                number(kwh / 1000 if isinstance(kwh, int | float) else None, "", 3),
                money(row.get("credit"), cur),
            )
