"""The ``[policy]`` configuration section: when the car may compute."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Annotated, Literal

from msgspec import Meta

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

# The signals of the hard-stop rules that every car has: a `required_signals` without one of
# them would let work go on while that signal is unknown, so the parser refuses such a list.
HARD_STOP_REQUIRED: tuple[str, ...] = (
    *vss.DOORS,
    vss.TRUNK_REAR,
    vss.TRUNK_FRONT,
    vss.GEAR,
    vss.SPEED,
    vss.DRIVER_SEAT,
)

# The low-voltage power states an operator may declare safe: never ON or START (the car is
# waking to drive) and never UNDEFINED (unknown is unsafe). The parser refuses anything else.
SafePowerState = Literal["LOCK", "OFF", "ACC"]
assert set(SafePowerState.__args__) == set(vss.POWER_STATES_SAFE)  # type: ignore[attr-defined]


@dataclass(frozen=True, slots=True)
class PolicyConfig:
    """``[policy]``: admission rules."""

    settle_s: Annotated[
        float,
        Meta(
            ge=0.0,
            description="how long every condition must hold before the car is admitted again",
        ),
    ] = 120.0
    soc_floor_percent: Annotated[
        float,
        Meta(
            ge=20.0,
            le=90.0,
            description="no compute below this state of charge (the owner's floor)",
        ),
    ] = 50.0
    required_signals: Annotated[
        tuple[str, ...],
        Meta(description="VSS paths that must be known and fresh for the car to compute"),
    ] = DEFAULT_REQUIRED
    safe_power_states: Annotated[
        tuple[SafePowerState, ...],
        Meta(
            description="low-voltage power states (Vehicle.LowVoltageSystemState) in which the "
            "car may compute; any other state, unknown ones included, stops work"
        ),
    ] = vss.POWER_STATES_SAFE

    def config_problems(self) -> Iterator[tuple[str, str]]:
        """Required signals that are not VSS paths parkmesh knows, or that leave out a
        hard-stop signal (placed in the file by the parser)."""
        for path in self.required_signals:
            try:
                vss.lookup(path)
            except KeyError as exc:
                yield "required_signals", str(exc.args[0])
        missing = [path for path in HARD_STOP_REQUIRED if path not in self.required_signals]
        if missing:
            yield (
                "required_signals",
                f"must list every hard-stop signal; missing: {', '.join(missing)}",
            )
