"""The COVESA VSS 6.0 signals parkmesh reads, with their data types.

Only the leaves the daemon uses are listed; a mapping that names any other path is refused, which
catches typos (``Row1.Driverside``) and paths renamed between VSS versions (``IsOccupied`` was
replaced by ``OccupancyStatus`` in 6.0) at load time instead of as a silently unknown signal.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Final

# VSS encodes Park and Drive as these SelectedGear values (VSS 4.0 .. 6.0).
GEAR_PARK: Final = 126
GEAR_DRIVE: Final = 127


@dataclass(frozen=True, slots=True)
class VssSignal:
    """One VSS leaf: its path, datatype (VSS names) and unit."""

    path: str
    datatype: str
    unit: str = ""
    allowed: tuple[str, ...] = ()

    def coerce(self, value: object) -> bool | int | float | str:
        """Convert a decoded value to this signal's type.

        Raises:
            ValueError: the value cannot be that type (or is not an allowed string).
        """
        if self.datatype == "boolean":
            if isinstance(value, bool):
                return value
            if isinstance(value, int | float) and value in (0, 1):
                return bool(value)
            raise ValueError(f"{self.path} is boolean, got {value!r}")
        if self.datatype == "string":
            text = str(value)
            if self.allowed and text not in self.allowed:
                raise ValueError(
                    f"{self.path} must be one of {', '.join(self.allowed)}, got {text!r}"
                )
            return text
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ValueError(f"{self.path} is {self.datatype}, got {value!r}")
        if not math.isfinite(value):
            raise ValueError(f"{self.path} is {self.datatype}, got {value!r}")
        if self.datatype == "float":
            return float(value)
        if float(value) != int(value):
            raise ValueError(f"{self.path} is {self.datatype}, got {value!r}")
        return int(value)


DOORS: Final = tuple(
    f"Vehicle.Cabin.Door.Row{row}.{side}.IsOpen"
    for row in (1, 2)
    for side in ("DriverSide", "PassengerSide")
)
TRUNK_REAR: Final = "Vehicle.Body.Trunk.Rear.IsOpen"
TRUNK_FRONT: Final = "Vehicle.Body.Trunk.Front.IsOpen"
HOOD: Final = "Vehicle.Body.Hood.IsOpen"
GEAR: Final = "Vehicle.Powertrain.Transmission.SelectedGear"
SPEED: Final = "Vehicle.Speed"
DRIVER_SEAT: Final = "Vehicle.Cabin.Seat.Row1.DriverSide.OccupancyStatus"
LOW_VOLTAGE_STATE: Final = "Vehicle.LowVoltageSystemState"
SOC: Final = "Vehicle.Powertrain.TractionBattery.StateOfCharge.Displayed"
SOC_CURRENT: Final = "Vehicle.Powertrain.TractionBattery.StateOfCharge.Current"
NET_CAPACITY: Final = "Vehicle.Powertrain.TractionBattery.NetCapacity"
CABLE: Final = (
    "Vehicle.Powertrain.TractionBattery.Charging.ChargingPort.AnyPosition.IsChargingCableConnected"
)
IS_CHARGING: Final = "Vehicle.Powertrain.TractionBattery.Charging.IsCharging"
CHARGE_POWER_KW: Final = "Vehicle.Powertrain.TractionBattery.Charging.AveragePower"
BATTERY_POWER: Final = "Vehicle.Powertrain.TractionBattery.CurrentPower"
PACK_TEMP: Final = "Vehicle.Powertrain.TractionBattery.Temperature.Average"
PACK_TEMP_MAX: Final = "Vehicle.Powertrain.TractionBattery.Temperature.Max"
PACK_TEMP_MIN: Final = "Vehicle.Powertrain.TractionBattery.Temperature.Min"
COOLANT_TEMP: Final = "Vehicle.Powertrain.ElectricMotor.EngineCoolant.Temperature"
CABIN_TEMP: Final = "Vehicle.Cabin.HVAC.AmbientAirTemperature"
AMBIENT_TEMP: Final = "Vehicle.Exterior.AirTemperature"
PARK_LOCK: Final = "Vehicle.Powertrain.Transmission.IsParkLockEngaged"

_LV_STATES = ("UNDEFINED", "LOCK", "OFF", "ACC", "ON", "START")

# The only readings with which each hard-stop rule can admit compute. Unknown is unsafe: every
# other value, including the VSS vocabulary's own "UNKNOWN" and "UNDEFINED" and anything a newer
# car or mapping may produce, stops work. Power states are narrowed further by the
# ``[policy] safe_power_states`` key (never beyond `POWER_STATES_SAFE`).
SEAT_EMPTY: Final = "EMPTY"
POWER_STATES_SAFE: Final = ("LOCK", "OFF", "ACC")
ADMITTING: Final[dict[str, frozenset[bool | int | float | str]]] = {
    **{door: frozenset({False}) for door in DOORS},
    TRUNK_REAR: frozenset({False}),
    TRUNK_FRONT: frozenset({False}),
    HOOD: frozenset({False}),
    GEAR: frozenset({GEAR_PARK}),
    PARK_LOCK: frozenset({True}),
    DRIVER_SEAT: frozenset({SEAT_EMPTY}),
    LOW_VOLTAGE_STATE: frozenset(POWER_STATES_SAFE),
}

CATALOG: Final[dict[str, VssSignal]] = {
    s.path: s
    for s in (
        *(VssSignal(p, "boolean") for p in DOORS),
        VssSignal(TRUNK_REAR, "boolean"),
        VssSignal(TRUNK_FRONT, "boolean"),
        VssSignal(HOOD, "boolean"),
        VssSignal(GEAR, "int8"),
        VssSignal(PARK_LOCK, "boolean"),
        VssSignal(SPEED, "float", "km/h"),
        VssSignal(DRIVER_SEAT, "string", allowed=("UNKNOWN", "OCCUPIED", "EMPTY")),
        VssSignal(LOW_VOLTAGE_STATE, "string", allowed=_LV_STATES),
        VssSignal(SOC, "float", "percent"),
        VssSignal(SOC_CURRENT, "float", "percent"),
        VssSignal(NET_CAPACITY, "uint16", "kWh"),
        VssSignal(CABLE, "boolean"),
        VssSignal(IS_CHARGING, "boolean"),
        VssSignal(CHARGE_POWER_KW, "float", "kW"),
        VssSignal(BATTERY_POWER, "float", "W"),
        VssSignal(PACK_TEMP, "float", "Celsius"),
        VssSignal(PACK_TEMP_MAX, "float", "Celsius"),
        VssSignal(PACK_TEMP_MIN, "float", "Celsius"),
        VssSignal(COOLANT_TEMP, "float", "Celsius"),
        VssSignal(CABIN_TEMP, "float", "Celsius"),
        VssSignal(AMBIENT_TEMP, "float", "Celsius"),
    )
}


def lookup(path: str) -> VssSignal:
    """The catalog entry for `path`.

    Raises:
        KeyError: with a message that suggests the closest known path.
    """
    try:
        return CATALOG[path]
    except KeyError:
        import difflib

        close = difflib.get_close_matches(path, CATALOG, n=1)
        hint = f" (did you mean {close[0]}?)" if close else ""
        raise KeyError(f"{path} is not a VSS 6.0 signal parkmesh knows{hint}") from None
