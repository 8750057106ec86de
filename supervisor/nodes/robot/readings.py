"""The thermal budget's view of a docked robot: the dock is its charger."""

from __future__ import annotations

from supervisor.daemon.vss_readings import Lookup, number
from thermal.inputs import Temperatures, VehicleReadings

from ..config import RobotConfig
from . import signals as s


def robot_readings(lookup: Lookup, config: RobotConfig) -> VehicleReadings:
    """The budget's inputs from the robot's signals (None where unknown).

    The dock's charger delivers while the line power is online and UPower says the battery
    charges (or is full); UPower reports no temperature as 0, read here as none.
    """
    soc = number(lookup(s.SOC))
    online = lookup(s.CHARGER_ONLINE) is True
    delivering = online and lookup(s.BATTERY_STATE) in s.STATES_CHARGING
    battery = number(lookup(s.BATTERY_TEMP))
    return VehicleReadings(
        soc_percent=soc if soc is not None and 0 <= soc <= 100 else None,
        cable_connected=lookup(s.DOCKED) is True,
        charger_delivering=delivering,
        charge_power_kw=config.dock_power_w / 1000 if online else None,
        temperatures=Temperatures(
            battery=_temp(battery) if battery else None,
            cabin=_temp(number(lookup(s.BODY_TEMP))),
        ),
    )


def _temp(value: float | None) -> float | None:
    return value if value is not None and -80 <= value <= 250 else None
