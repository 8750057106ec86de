"""Overview: the dashboard; is it computing, and if not, why not; what it did last."""

from __future__ import annotations

from collections.abc import Iterable

from rich.text import Text
from textual.containers import Horizontal
from textual.widget import Widget

from tui.format import node, number
from tui.screens import overview_rows as rows
from tui.screens.base import DaemonScreen
from tui.state import DaemonState
from tui.widgets.facts import Facts
from tui.widgets.history import History

# Kept importable from here (the overview's own names before the rows moved out).
loop_text = rows.loop_text
SLOW_STEP_MS = rows.SLOW_STEP_MS


class OverviewScreen(DaemonScreen):
    """What a technician needs first, within 80x24: state and reasons, charge, power,
    temperatures, workers, uplink, earnings, and the last stops and jobs."""

    MODE = "overview"

    def compose_body(self) -> Iterable[Widget]:
        yield Facts(id="overview-facts")
        with Horizontal(id="overview-history"):
            yield History(id="overview-stops")
            yield History(id="overview-jobs")

    def show_body(self, state: DaemonState) -> None:
        facts: list[tuple[str, str | Text]] = [
            ("Node", node(state.get("NodeKind"), state.get("NodeSource"))),
            ("State", rows.phase_text(state)),
            ("Why not?", rows.why_text(state)),
        ]
        stale = rows.stale_signals(state)
        if stale:
            facts.append(("Stale signals", Text(", ".join(stale), style="yellow")))
        facts += [
            ("Charge", rows.charge_text(state)),
            ("Power", rows.power_text(state)),
            ("Temperatures", rows.temperatures_text(state)),
            ("Workers", rows.workers_text(state)),
            ("Uplink", rows.uplink_text(state)),
            ("Earned", rows.earnings_text(state)),
            ("Last stop", number(state.get("LastStopMs"), " ms", 2)),
            ("Daemon loop", rows.loop_text(state.get("LoopJson"))),
        ]
        self.query_one(Facts).show_facts(facts)
        self.query_one("#overview-stops", History).show_lines(
            "Last stops (this session)", rows.stop_lines(state), "none yet"
        )
        self.query_one("#overview-jobs", History).show_lines(
            "Last jobs (this session)", rows.job_lines(state), "none yet"
        )
