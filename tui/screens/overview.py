"""Overview: the node, the state, why not, charge, allowed power, runway, earnings."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from rich.text import Text
from textual.widget import Widget

from tui.format import duration, known, money, node, number
from tui.screens.base import DaemonScreen
from tui.state import DaemonState
from tui.widgets.facts import Facts

# A task step longer than this in the last window is shown in yellow: the loop is too busy
# for DBus calls and the uplink to be answered promptly (the stop path has its own thread).
SLOW_STEP_MS = 10.0

PHASE_STYLE = {
    "serving": "bold green",
    "eligible": "bold cyan",
    "stopping": "bold yellow",
    "not eligible": "bold red",
}


class OverviewScreen(DaemonScreen):
    """What a technician needs first: is it computing, and if not, why not."""

    MODE = "overview"

    def compose_body(self) -> Iterable[Widget]:
        yield Facts(id="overview-facts")

    def show_body(self, state: DaemonState) -> None:
        phase = state.get("Phase", "unknown")
        phase_text = Text(phase, style=PHASE_STYLE.get(phase, "bold"))
        if not state.connected:
            phase_text = Text("unknown", style="bold red")
            if state.props:
                phase_text.append(f"  (last seen: {phase})", style="dim")
        if state.get("Draining"):
            phase_text.append("  (drained: no new jobs)", style="yellow")
        reasons = state.get("Reasons") or []
        if not state.props:
            why = Text("unknown: no answer from the daemon yet", style="dim")
        elif not state.connected:
            why = Text("unknown: the daemon is not reachable", style="red")
        elif reasons:
            why = Text("; ".join(reasons), style="red")
        else:
            why = Text("nothing: every condition holds", style="green")
        budget = state.get("BudgetJson") or {}
        earnings = state.get("EarningsJson") or {}
        cur = earnings.get("currency", "")
        stale = [
            s["path"].rsplit(".", 2)[-2] + "." + s["path"].rsplit(".", 1)[-1]
            for s in state.get("VehicleJson") or []
            if s.get("stale")
        ]
        rows: list[tuple[str, str | Text]] = [
            ("Node", node(state.get("NodeKind"), state.get("NodeSource"))),
            ("State", phase_text),
            ("Why not?", why),
        ]
        if stale:
            rows.append(("Stale signals", Text(", ".join(stale), style="yellow")))
        rows += [
            (
                "Charge",
                f"{number(state.get('StateOfCharge'), ' %')}   (floor "
                f"{number(budget.get('floor_percent'), ' %', 0)})",
            ),
            ("Allowed power", number(state.get("AllowedPowerW"), " W", 0)),
            ("Runway", duration(state.get("RunwayS"))),
            ("Earned today", money(earnings.get("today"), cur)),
            ("Earned this month", money(earnings.get("month"), cur)),
            ("Last stop", number(state.get("LastStopMs"), " ms", 2)),
            ("Daemon loop", loop_text(state.get("LoopJson"))),
        ]
        self.query_one(Facts).show_facts(rows)


def loop_text(loop: Any) -> str | Text:
    """The loop's responsiveness: the last window's longest step and lag, and the worst."""
    if not isinstance(loop, dict) or not loop.get("running"):
        return Text("not measured", style="dim")
    now = (
        f"step {number(loop.get('window_longest_step_ms'), ' ms', 2)}, "
        f"lag {number(loop.get('window_max_lag_ms'), ' ms', 2)}"
    )
    worst = (
        f"worst step {number(loop.get('longest_step_ms'), ' ms', 1)}"
        f" ({loop.get('longest_step_task') or '?'})"
    )
    style = (
        "yellow"
        if known(loop.get("window_longest_step_ms"))
        and float(loop["window_longest_step_ms"]) > SLOW_STEP_MS
        else ""
    )
    return Text(f"{now}; {worst}", style=style)
