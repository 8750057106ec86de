"""Wiring the thermal budget into the daemon: vehicle readings in, soft stops out."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Protocol

from supervisor.vehicle.state import VehicleState
from thermal.decision import BudgetDecision
from thermal.inputs import VehicleReadings

from .vss_readings import vehicle_readings_from

LOG = logging.getLogger(__name__)


class FloorOwner(Protocol):
    """The policy's battery floor, as the budget takes it over."""

    def use_budget(self) -> None:
        """The thermal budget now owns the battery floor."""
        ...


class BudgetCar(Protocol):
    """What the link reads and sets on the hot path (`supervisor.hotpath.HotPath`)."""

    @property
    def state(self) -> VehicleState:
        """The vehicle state (its values are read, never changed)."""
        ...

    @property
    def policy(self) -> FloorOwner:
        """The admission policy's inputs."""
        ...

    def clock(self) -> float:
        """Now, on the state's clock."""
        ...

    def set_soft_stop(self, source: str, reasons: Sequence[str]) -> object:
        """Replace `source`'s soft-stop reasons and re-evaluate."""
        ...


class BudgetLink:
    """Feeds the budget from the vehicle state and turns its decisions into soft stops.

    Zero allowed power is a soft stop ("budget"): the running job finishes, no new one starts,
    and nothing the budget says can ever hard-stop the car's own functions.
    """

    def __init__(self, car: BudgetCar) -> None:
        self.car = car
        self.decision: BudgetDecision | None = None
        car.policy.use_budget()

    def readings(self) -> VehicleReadings:
        """The car as the budget sees it now (stale values are unknown)."""
        state, now = self.car.state, self.car.clock()
        return vehicle_readings_from(lambda path: state.value(path, now))

    def on_decision(self, decision: BudgetDecision) -> None:
        """Apply a changed budget decision to the policy (synchronous, no I/O but a log line)."""
        self.decision = decision
        reasons = decision.reasons if decision.stopped else ()
        self.car.set_soft_stop("budget", reasons)
        LOG.info(
            "budget: %.0f W allowed%s",
            decision.allowed_w,
            f" ({'; '.join(decision.reasons)})" if decision.reasons else "",
        )
