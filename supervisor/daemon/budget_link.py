"""Wiring the thermal budget into the daemon: vehicle readings in, soft stops out."""

from __future__ import annotations

import logging

from supervisor.hotpath import HotPath
from thermal.decision import BudgetDecision
from thermal.inputs import VehicleReadings
from thermal.vss_readings import vehicle_readings_from

LOG = logging.getLogger(__name__)


class BudgetLink:
    """Feeds the budget from the vehicle state and turns its decisions into soft stops.

    Zero allowed power is a soft stop ("budget"): the running job finishes, no new one starts,
    and nothing the budget says can ever hard-stop the car's own functions.
    """

    def __init__(self, hotpath: HotPath) -> None:
        self.hotpath = hotpath
        self.decision: BudgetDecision | None = None
        hotpath.policy.use_budget()

    def readings(self) -> VehicleReadings:
        """The car as the budget sees it now (stale values are unknown)."""
        state, now = self.hotpath.state, self.hotpath.clock()
        return vehicle_readings_from(lambda path: state.value(path, now))

    def on_decision(self, decision: BudgetDecision) -> None:
        """Apply a changed budget decision to the policy (synchronous, no I/O but a log line)."""
        self.decision = decision
        reasons = decision.reasons if decision.stopped else ()
        self.hotpath.policy.set_soft_stop("budget", reasons)
        self.hotpath.refresh_soft_stops()
        LOG.info(
            "budget: %.0f W allowed%s",
            decision.allowed_w,
            f" ({'; '.join(decision.reasons)})" if decision.reasons else "",
        )
