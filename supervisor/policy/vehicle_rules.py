"""The hard-stop rules that read the vehicle state. Pure functions of (state, now)."""

from __future__ import annotations

from collections.abc import Iterable

from supervisor.vehicle import vss
from supervisor.vehicle.state import VehicleState

from .reasons import Reason

# Human names for the closures a technician checks by walking round the car.
_CLOSURES: dict[str, str] = {
    "Vehicle.Cabin.Door.Row1.DriverSide.IsOpen": "driver door",
    "Vehicle.Cabin.Door.Row1.PassengerSide.IsOpen": "front passenger door",
    "Vehicle.Cabin.Door.Row2.DriverSide.IsOpen": "rear door behind the driver",
    "Vehicle.Cabin.Door.Row2.PassengerSide.IsOpen": "rear passenger door",
    vss.TRUNK_REAR: "trunk",
    vss.TRUNK_FRONT: "frunk",
    vss.HOOD: "hood",
}
_GEAR_NAMES = {vss.GEAR_PARK: "Park", vss.GEAR_DRIVE: "Drive", 0: "Neutral"}
# The low-voltage states in which the car is waking to drive.
_DRIVE_POWER_STATES = frozenset({"ON", "START"})


def describe(path: str) -> str:
    """A short human name for a VSS path."""
    if path in _CLOSURES:
        return _CLOSURES[path]
    return {
        vss.GEAR: "gear",
        vss.SPEED: "speed",
        vss.DRIVER_SEAT: "driver seat",
        vss.LOW_VOLTAGE_STATE: "low-voltage power state",
        vss.SOC: "state of charge",
    }.get(path, path.removeprefix("Vehicle."))


def freshness_reasons(state: VehicleState, required: Iterable[str], now: float) -> list[Reason]:
    """A reason for each required signal that never arrived, is unknown, or is stale."""
    reasons = []
    for path in required:
        sig = state.get(path)
        name = describe(path)
        if sig is None:
            reasons.append(Reason("unknown", f"{name}: no reading yet ({path})", hard=True))
        elif sig.value is None:
            reasons.append(Reason("unknown", f"{name}: the car reports it as unknown", hard=True))
        elif not sig.is_fresh(now):
            # The age itself is left out of the text so that the reason, and its log line,
            # stays the same while the signal stays stale.
            reasons.append(
                Reason("stale", f"{name}: stale, no reading within {sig.max_age:g} s", hard=True)
            )
    return reasons


def vehicle_reasons(state: VehicleState, now: float) -> list[Reason]:
    """A reason for each hard-stop condition the fresh signals show."""
    reasons = []
    for path, name in _CLOSURES.items():
        if state.value(path, now) is True:
            reasons.append(Reason("open", f"{name} open", hard=True))
    gear = state.value(vss.GEAR, now)
    if gear is not None and gear != vss.GEAR_PARK:
        label = _GEAR_NAMES.get(int(gear), "Reverse" if int(gear) < 0 else f"gear {gear}")
        reasons.append(Reason("gear", f"gear is {label}, not Park", hard=True))
    speed = state.value(vss.SPEED, now)
    # Any speed but zero: some cars report reversing as a negative speed.
    if isinstance(speed, int | float) and speed != 0:
        reasons.append(Reason("moving", f"moving at {abs(speed):.1f} km/h", hard=True))
    if state.value(vss.DRIVER_SEAT, now) == "OCCUPIED":
        reasons.append(Reason("seat", "driver seat occupied", hard=True))
    power = state.value(vss.LOW_VOLTAGE_STATE, now)
    if power in _DRIVE_POWER_STATES:
        reasons.append(Reason("waking", f"car waking to drive (power state {power})", hard=True))
    return reasons
