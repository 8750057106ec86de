"""The thermal budget's view of the car, built from the vehicle state's VSS signals.

    readings = vehicle_readings_from(lambda path: state.value(path, clock()))

An adapter of the daemon's (`budget_link.BudgetLink.readings`): thermal knows nothing of VSS.

`lookup` returns a fresh value or None (unknown or stale), so a stale temperature is missing
and, for a required sensor, counts as hot.
"""

from __future__ import annotations

from collections.abc import Callable

from supervisor.vehicle import vss
from thermal.inputs import Temperatures, VehicleReadings

Lookup = Callable[[str], bool | int | float | str | None]


def number(value: bool | int | float | str | None) -> float | None:
    """`value` as a float when it is a number (not a bool), else None."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)


def vehicle_readings_from(lookup: Lookup) -> VehicleReadings:
    """The budget's view of the car from VSS values (None where unknown).

    Mapping: SoC from ``StateOfCharge.Displayed``; capacity from ``NetCapacity``; cable from
    ``ChargingPort.AnyPosition.IsChargingCableConnected``; charger delivering from
    ``Charging.IsCharging``; charge power from ``Charging.AveragePower`` (kW); battery
    temperature from ``Temperature.Max`` (else ``.Average``); coolant, cabin and ambient from
    ``EngineCoolant.Temperature``, ``Cabin.HVAC.AmbientAirTemperature`` and
    ``Exterior.AirTemperature``. Out-of-range values count as unknown.
    """

    def clamp(value: float | None, lo: float, hi: float) -> float | None:
        return value if value is not None and lo <= value <= hi else None

    battery = number(lookup(vss.PACK_TEMP_MAX))
    if battery is None:
        battery = number(lookup(vss.PACK_TEMP))
    temps = Temperatures(
        coolant=clamp(number(lookup(vss.COOLANT_TEMP)), -80, 250),
        battery=clamp(battery, -80, 250),
        cabin=clamp(number(lookup(vss.CABIN_TEMP)), -80, 250),
        ambient=clamp(number(lookup(vss.AMBIENT_TEMP)), -80, 250),
    )
    return VehicleReadings(
        soc_percent=clamp(number(lookup(vss.SOC)), 0, 100),
        capacity_kwh=clamp(number(lookup(vss.NET_CAPACITY)), 0.1, 1000),
        cable_connected=lookup(vss.CABLE) is True,
        charger_delivering=lookup(vss.IS_CHARGING) is True,
        charge_power_kw=clamp(number(lookup(vss.CHARGE_POWER_KW)), 0, 1000),
        temperatures=temps,
    )
