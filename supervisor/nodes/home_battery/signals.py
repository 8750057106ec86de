"""The home battery's signals: VSS-like paths for what its SunSpec models report."""

from __future__ import annotations

from typing import Final

from supervisor.vehicle.vss import VssSignal

SOC: Final = "HomeBattery.StateOfCharge"
RESERVE: Final = "HomeBattery.BackupReserve"
CHARGE_STATE: Final = "HomeBattery.ChargeState"
TEMPERATURE: Final = "HomeBattery.Temperature"
GRID_CONNECTED: Final = "HomeBattery.Grid.IsConnected"
INVERTER_STATE: Final = "HomeBattery.Inverter.OperatingState"
CABINET_TEMP: Final = "HomeBattery.Inverter.CabinetTemperature"
SOLAR_SURPLUS_W: Final = "HomeBattery.Solar.SurplusPower"

# SunSpec's enumerations (model 124 ChaSt, model 10x St), by their SunSpec names.
CHARGE_STATES: Final = {
    1: "OFF",
    2: "EMPTY",
    3: "DISCHARGING",
    4: "CHARGING",
    5: "FULL",
    6: "HOLDING",
    7: "TESTING",
}
INVERTER_STATES: Final = {
    1: "OFF",
    2: "SLEEPING",
    3: "STARTING",
    4: "MPPT",
    5: "THROTTLED",
    6: "SHUTTING_DOWN",
    7: "FAULT",
    8: "STANDBY",
}
# The only states in which the battery may be drawn on for compute; any other (OFF, EMPTY,
# TESTING, a fault, a code this table does not know) stops work.
CHARGE_STATES_SAFE: Final = frozenset({"DISCHARGING", "CHARGING", "FULL", "HOLDING"})
INVERTER_STATES_SAFE: Final = frozenset({"SLEEPING", "STARTING", "MPPT", "THROTTLED", "STANDBY"})

CATALOG: Final[dict[str, VssSignal]] = {
    s.path: s
    for s in (
        VssSignal(SOC, "float", "percent"),
        VssSignal(RESERVE, "float", "percent"),
        VssSignal(CHARGE_STATE, "string", allowed=tuple(CHARGE_STATES.values())),
        VssSignal(TEMPERATURE, "float", "Celsius"),
        VssSignal(GRID_CONNECTED, "boolean"),
        VssSignal(INVERTER_STATE, "string", allowed=tuple(INVERTER_STATES.values())),
        VssSignal(CABINET_TEMP, "float", "Celsius"),
        VssSignal(SOLAR_SURPLUS_W, "float", "W"),
    )
}
# Without a fresh reading of each of these, the battery cannot be known safe: work stops.
REQUIRED: Final = (SOC, RESERVE, CHARGE_STATE, TEMPERATURE, GRID_CONNECTED, INVERTER_STATE)

NAMES: Final = {
    SOC: "battery state of charge",
    RESERVE: "backup reserve",
    CHARGE_STATE: "battery state",
    TEMPERATURE: "battery temperature",
    GRID_CONNECTED: "grid connection",
    INVERTER_STATE: "inverter state",
    CABINET_TEMP: "inverter cabinet temperature",
    SOLAR_SURPLUS_W: "surplus solar power",
}


def describe(path: str) -> str:
    """A technician's name for a home battery signal."""
    return NAMES.get(path, path)
