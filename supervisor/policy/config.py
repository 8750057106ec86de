"""The ``[policy]`` configuration section: when the car may compute."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from supervisor.config.sections import setting
from supervisor.vehicle import vss

# Signals without which the policy cannot know the car is parked and closed: if any is unknown
# or stale, work stops.
DEFAULT_REQUIRED: tuple[str, ...] = (
    *vss.DOORS,
    vss.TRUNK_REAR,
    vss.TRUNK_FRONT,
    vss.GEAR,
    vss.SPEED,
    vss.DRIVER_SEAT,
    vss.SOC,
)

# The low-voltage power states an operator may declare safe: never ON or START (the car is
# waking to drive) and never UNDEFINED (unknown is unsafe). The parser refuses anything else.
SafePowerState = Literal["LOCK", "OFF", "ACC"]
assert set(SafePowerState.__args__) == set(vss.POWER_STATES_SAFE)  # type: ignore[attr-defined]


@dataclass(frozen=True, slots=True)
class PolicyConfig:
    """``[policy]``: admission rules."""

    settle_s: float = setting(
        120.0, doc="how long every condition must hold before the car is admitted again", min=0.0
    )
    soc_floor_percent: float = setting(
        50.0, doc="no compute below this state of charge (the owner's floor)", min=20.0, max=90.0
    )
    required_signals: tuple[str, ...] = setting(
        DEFAULT_REQUIRED, doc="VSS paths that must be known and fresh for the car to compute"
    )
    safe_power_states: tuple[SafePowerState, ...] = setting(
        vss.POWER_STATES_SAFE,
        doc="low-voltage power states (Vehicle.LowVoltageSystemState) in which the car may"
        " compute; any other state, unknown ones included, stops work",
    )
