"""The docked robot's signals: VSS-like paths for UPower's and the robot's own properties."""

from __future__ import annotations

from typing import Final

from supervisor.vehicle.vss import VssSignal

SOC: Final = "Robot.Battery.Percentage"
BATTERY_STATE: Final = "Robot.Battery.State"
BATTERY_TEMP: Final = "Robot.Battery.Temperature"
CHARGER_ONLINE: Final = "Robot.Charger.IsOnline"
DOCKED: Final = "Robot.Dock.IsDocked"
BUSY: Final = "Robot.Task.IsBusy"
BODY_TEMP: Final = "Robot.Body.Temperature"

# UPower's Device.State (u), by name; 0 (unknown) and any other code map to unknown.
UPOWER_STATES: Final = {
    1: "CHARGING",
    2: "DISCHARGING",
    3: "EMPTY",
    4: "FULLY_CHARGED",
    5: "PENDING_CHARGE",
    6: "PENDING_DISCHARGE",
}
# The states in which a docked robot's battery may be lent; EMPTY (and unknown) stop work.
STATES_SAFE: Final = frozenset(set(UPOWER_STATES.values()) - {"EMPTY"})
STATES_CHARGING: Final = frozenset({"CHARGING", "FULLY_CHARGED", "PENDING_CHARGE"})

CATALOG: Final[dict[str, VssSignal]] = {
    sig.path: sig
    for sig in (
        VssSignal(SOC, "float", "percent"),
        VssSignal(BATTERY_STATE, "string", allowed=tuple(UPOWER_STATES.values())),
        VssSignal(BATTERY_TEMP, "float", "Celsius"),
        VssSignal(CHARGER_ONLINE, "boolean"),
        VssSignal(DOCKED, "boolean"),
        VssSignal(BUSY, "boolean"),
        VssSignal(BODY_TEMP, "float", "Celsius"),
    )
}
REQUIRED: Final = (SOC, BATTERY_STATE, CHARGER_ONLINE, DOCKED, BUSY)

NAMES: Final = {
    SOC: "battery percentage",
    BATTERY_STATE: "battery state",
    BATTERY_TEMP: "battery temperature",
    CHARGER_ONLINE: "charger (line power)",
    DOCKED: "dock",
    BUSY: "task system",
    BODY_TEMP: "body temperature",
}


def describe(path: str) -> str:
    """A technician's name for a robot signal."""
    return NAMES.get(path, path)
