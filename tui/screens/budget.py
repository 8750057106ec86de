"""Budget: the projected state of charge until departure, temperatures and curtailments."""

from __future__ import annotations

from collections.abc import Iterable

from textual.containers import Horizontal
from textual.widget import Widget

from tui.format import duration, number
from tui.screens.base import DaemonScreen
from tui.state import DaemonState
from tui.widgets.facts import Facts
from tui.widgets.plot import SocPlot


class BudgetScreen(DaemonScreen):
    """The thermal and battery budget as the daemon computes it."""

    MODE = "budget"

    def compose_body(self) -> Iterable[Widget]:
        yield SocPlot(id="soc-plot")
        with Horizontal(id="budget-facts"):
            yield Facts(id="budget-limits")
            yield Facts(id="budget-temps")

    def show_body(self, state: DaemonState) -> None:
        budget = state.get("BudgetJson") or {}
        points = [
            (p["t_s"], p["soc_percent"])
            for p in budget.get("projection") or []
            if "t_s" in p and "soc_percent" in p
        ]
        self.query_one(SocPlot).set_data(
            points, budget.get("floor_percent"), budget.get("target_soc_percent")
        )
        departure = str(budget.get("departure") or "—")[:16].replace("T", " ")
        curtailments = budget.get("curtailments") or []
        self.query_one("#budget-limits", Facts).show_facts(
            [
                (
                    "Charge",
                    f"{number(budget.get('soc_percent'), ' %')} → floor "
                    f"{number(budget.get('floor_percent'), ' %', 0)}",
                ),
                (
                    "Departure",
                    f"{departure}  target {number(budget.get('target_soc_percent'), ' %', 0)}",
                ),
                ("Allowed", number(budget.get("allowed_power_w"), " W", 0)),
                ("Runway", _runway(budget)),
                ("Curtailed", f"{len(curtailments)} request(s)" if curtailments else "no"),
            ]
        )
        temps = budget.get("temperatures_c") or {}
        self.query_one("#budget-temps", Facts).show_facts(
            [(name.capitalize(), number(v, " °C")) for name, v in sorted(temps.items())]
            or [("Temperatures", "—")]
        )


def _runway(budget: dict[str, object]) -> str:
    if "runway_s" in budget and budget["runway_s"] is None:
        return "unlimited"
    text = duration(budget.get("runway_s"))
    limit = budget.get("runway_limit")
    return f"{text} (until {limit})" if limit and text != "—" else text
