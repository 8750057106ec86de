"""The docked robot's hard-stop rules: the robot's own work always comes first.

Leaving the dock or taking a task stops work at once, as does an empty battery or any battery
state UPower reports that is not known to be safe. A required signal unknown or stale (the
task system or UPower gone quiet) stops work too. A charger that goes offline is the budget's
business (the robot is then on battery), not a hard stop.
"""

from __future__ import annotations

from supervisor.policy.config import PolicyConfig
from supervisor.policy.reasons import Reason
from supervisor.policy.vehicle_rules import freshness_reasons
from supervisor.vehicle.state import VehicleState

from . import signals as s


class RobotRules:
    """`supervisor.policy.rules.NodeRules` for a docked robot."""

    source_word = "robot"
    soc_path = s.SOC

    def hard_reasons(self, state: VehicleState, now: float, config: PolicyConfig) -> list[Reason]:
        """Freshness of `signals.REQUIRED`, then the dock, the task and the battery."""
        reasons = freshness_reasons(state, s.REQUIRED, now, s.describe, "the robot")
        if state.value(s.DOCKED, now) is False:
            reasons.append(Reason("undocked", "robot left its dock", hard=True))
        if state.value(s.BUSY, now) is True:
            reasons.append(Reason("busy", "robot took a task", hard=True))
        battery = state.value(s.BATTERY_STATE, now)
        if battery is not None and battery not in s.STATES_SAFE:
            reasons.append(Reason("battery_state", f"battery state is {battery}", hard=True))
        return reasons
