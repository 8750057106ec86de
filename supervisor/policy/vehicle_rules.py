"""The hard-stop rules that read the vehicle state. Pure functions of (state, now)."""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable

from supervisor.vehicle import vss
from supervisor.vehicle.state import Value, VehicleState

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
        vss.PARK_LOCK: "park lock",
        vss.SOC: "state of charge",
    }.get(path, path.removeprefix("Vehicle."))


def freshness_reasons(
    state: VehicleState,
    required: Iterable[str],
    now: float,
    name_of: Callable[[str], str] = describe,
    reporter: str = "the car",
) -> list[Reason]:
    """A reason for each required signal that never arrived, is unknown, or is stale.

    `name_of` gives a signal's human name and `reporter` who reports it (another node kind's).
    """
    reasons = []
    for path in required:
        sig = state.get(path)
        name = name_of(path)
        if sig is None:
            reasons.append(Reason("unknown", f"{name}: no reading yet ({path})", hard=True))
        elif sig.value is None:
            reasons.append(
                Reason("unknown", f"{name}: {reporter} reports it as unknown", hard=True)
            )
        elif not sig.is_fresh(now):
            # The age itself is left out of the text so that the reason, and its log line,
            # stays the same while the signal stays stale.
            reasons.append(
                Reason("stale", f"{name}: stale, no reading within {sig.max_age:g} s", hard=True)
            )
    return reasons


def vehicle_reasons(
    state: VehicleState,
    now: float,
    required: Collection[str] = (),
    safe_power_states: Collection[str] = vss.POWER_STATES_SAFE,
) -> list[Reason]:
    """A reason for each hard-stop condition the signals show.

    Each enum rule admits compute only for the values known to be safe (`vss.ADMITTING`): a
    closure reported closed, gear Park, the driver seat EMPTY, a power state in
    `safe_power_states`, the park lock engaged. Any other value, one a newer car or mapping
    introduces included, stops work with the value named. A rule signal that is not in
    `required` (those `freshness_reasons` reports) stops work too once it has been heard from
    and then turns unknown or stale; one the sources never provide is not checked.
    """
    reasons: list[Reason] = []
    for path, name in _CLOSURES.items():
        value = _rule_value(state, path, now, required, reasons)
        if value is True:
            reasons.append(Reason("open", f"{name} open", hard=True))
        elif value is not None and value is not False:
            reasons.append(_not_known(name, value, "closed"))
    gear = _rule_value(state, vss.GEAR, now, required, reasons)
    if gear is not None and gear != vss.GEAR_PARK:
        if isinstance(gear, int) and not isinstance(gear, bool):
            label = _GEAR_NAMES.get(gear, "Reverse" if gear < 0 else f"gear {gear}")
            reasons.append(Reason("gear", f"gear is {label}, not Park", hard=True))
        else:
            reasons.append(_not_known("gear", gear, "Park"))
    lock = _rule_value(state, vss.PARK_LOCK, now, required, reasons)
    if lock is not None and lock is not True:
        reasons.append(Reason("gear", "park lock not engaged", hard=True))
    speed = _rule_value(state, vss.SPEED, now, required, reasons)
    # Any speed but zero: some cars report reversing as a negative speed.
    if isinstance(speed, int | float) and speed != 0:
        reasons.append(Reason("moving", f"moving at {abs(speed):.1f} km/h", hard=True))
    seat = _rule_value(state, vss.DRIVER_SEAT, now, required, reasons)
    if seat == "OCCUPIED":
        reasons.append(Reason("seat", "driver seat occupied", hard=True))
    elif seat is not None and seat != vss.SEAT_EMPTY:
        reasons.append(_not_known("driver seat occupancy", seat, "empty"))
    power = _rule_value(state, vss.LOW_VOLTAGE_STATE, now, required, reasons)
    if power in _DRIVE_POWER_STATES:
        reasons.append(Reason("waking", f"car waking to drive (power state {power})", hard=True))
    elif power is not None and power not in safe_power_states:
        reasons.append(_not_known("low-voltage power state", power, "safe"))
    return reasons


def _rule_value(
    state: VehicleState,
    path: str,
    now: float,
    required: Collection[str],
    reasons: list[Reason],
) -> Value | None:
    """The fresh value at `path`; None when unknown. For a signal outside `required` that has
    been heard from but is unknown or stale now, appends that reason (required ones are
    reported by `freshness_reasons`, once)."""
    sig = state.get(path)
    if sig is None:
        return None
    if sig.is_fresh(now):
        return sig.value
    if path not in required:
        name = describe(path)
        if sig.value is None:
            reasons.append(Reason("unknown", f"{name}: the car reports it as unknown", hard=True))
        else:
            reasons.append(
                Reason("stale", f"{name}: stale, no reading within {sig.max_age:g} s", hard=True)
            )
    return None


def _not_known(name: str, value: Value, safe: str) -> Reason:
    # The value is quoted as the car (or its mapping) reported it, so that a technician can
    # tell a new code from a typo in the mapping.
    return Reason("unknown", f"{name} is {value!r}, not known to be {safe}", hard=True)
