"""The demo's narration: scenario events, decisions and stop latencies, one line each.

It reads as a story: one clock from the first line to the last, SERVING when the car takes a
job, the state of charge beside each decision, no line twice, and a closing summary (jobs,
stops, energy, credits, and where the ledger is).
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, TextIO

from supervisor.daemon.stop_watch import StopReport
from supervisor.policy import Decision, Phase
from supervisor.vehicle.scenario import ScenarioEvent
from uplink.demo import MeshEvent

# Mesh events worth a line: each job's outcome, and this car's results, failures
# (pre-emptions, declines) and cancellations.
_JOB_KINDS = frozenset({"job_done", "job_failed"})
_CAR_KINDS = frozenset({"result", "failure", "cancel"})

_WORKING = frozenset({Phase.ELIGIBLE, Phase.SERVING})

_PHASE_MARK = {
    Phase.NOT_ELIGIBLE: "·",
    Phase.ELIGIBLE: "✓",
    Phase.SERVING: "▶",
    Phase.STOPPING: "■",
}


class DemoPrinter:
    """Prints what happens, with the scenario time, and keeps a record for ``--json``."""

    def __init__(self, clock: Callable[[], float], speed: float, out: TextIO = sys.stdout) -> None:
        self._clock = clock
        self._start: float | None = None  # the first line's time: the story's one clock
        self.started_at = datetime.now(UTC)  # the ledger's clock: which months to sum
        self._speed = speed
        self._out = out
        self.record: list[dict[str, Any]] = []
        self.quiet = False
        self._last_phase: Phase | None = None
        self._last_text = ""
        self.car_id = "scenario-car"
        # The state of charge now (percent), shown beside each decision; None: not known.
        self.soc: Callable[[], float | None] = lambda: None

    def _t(self) -> float:
        if self._start is None:
            self._start = self._clock()
        return (self._clock() - self._start) * self._speed

    def line(self, text: str, **fields: Any) -> None:
        """Print one narrated line and record it."""
        t = self._t()
        self.record.append({"t": round(t, 2), **fields})
        if not self.quiet:
            print(f"{t:6.1f} s  {text}", file=self._out, flush=True)

    def say(self, text: str) -> None:
        """Print a line for the reader only: its facts are in the record already."""
        if not self.quiet:
            print(f"{self._t():6.1f} s  {text}", file=self._out, flush=True)

    def mesh(self, event: MeshEvent) -> None:
        """Something happened in the mesh: every job's outcome, and what befell this car's
        share of it (offers, accepts, statuses and the other cars' details are left out)."""
        if event.kind in _JOB_KINDS or (event.kind in _CAR_KINDS and event.car == self.car_id):
            self.line(
                f"  mesh: {event.text}", kind="mesh", event=event.kind, car=event.car, job=event.job
            )

    def event(self, event: ScenarioEvent) -> None:
        """A scenario event happened."""
        self.line(f"  car: {event.note}", kind="event", note=event.note)

    def decision(self, decision: Decision) -> None:
        """The policy changed its mind. A job starting is SERVING; its end (back to eligible)
        is told by the mesh's line for the job, so it is not said twice."""
        back_to_eligible = decision.phase == Phase.ELIGIBLE and self._last_phase == Phase.SERVING
        self._last_phase = decision.phase
        if back_to_eligible and not decision.reasons:
            self._last_text = ""  # the next job's SERVING is news again
            return
        mark = _PHASE_MARK[decision.phase]
        reasons = "; ".join(r.text for r in decision.reasons)
        text = f"{mark} {decision.phase.upper()}" + (f": {reasons}" if reasons else "")
        if text == self._last_text:
            return  # the same words again (a budget re-evaluation): nothing new to tell
        self._last_text = text
        soc = self.soc()
        if soc is not None:
            text += f"  (SoC {soc:.0f} %)"
        self.line(
            text,
            kind="decision",
            phase=str(decision.phase),
            reasons=[r.text for r in decision.reasons],
        )

    def stop(self, decision: Decision, report: StopReport) -> None:
        """A hard stop was confirmed."""
        parts = []
        if report.reading_to_flag_ms is not None:
            parts.append(f"reading → stop flag {report.reading_to_flag_ms:.3f} ms")
        else:
            parts.append("stop flag written by the clock (no reading)")
        if report.flag_to_idle_ms is not None:
            parts.append(f"flag → {report.workers} worker(s) idle {report.flag_to_idle_ms:.3f} ms")
        if report.killed:
            parts.append(f"{report.killed} killed at the deadline")
        self.line(
            "  stop: " + ", ".join(parts or ["no worker was running"]),
            kind="stop",
            reading_to_flag_ms=report.reading_to_flag_ms,
            flag_to_idle_ms=report.flag_to_idle_ms,
            killed=report.killed,
        )
