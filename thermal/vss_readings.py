"""Building `VehicleReadings` from VSS signals, for the supervisor's VehicleState.

    readings = vehicle_readings_from(lambda path: state.value(path, clock()))

`lookup` returns a fresh value or None (unknown or stale), so a stale temperature is missing
and, for a required sensor, counts as hot.
"""

from __future__ import annotations

from collections.abc import Callable

from supervisor.vehicle import vss

from .inputs import Temperatures, VehicleReadings

Lookup = Callable[[str], bool | int | float | str | None]


def _number(value: bool | int | float | str | None) -> float | None:
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

    battery = _number(lookup(vss.PACK_TEMP_MAX))
    if battery is None:
        battery = _number(lookup(vss.PACK_TEMP))
    temps = Temperatures(
        coolant=clamp(_number(lookup(vss.COOLANT_TEMP)), -80, 250),
        battery=clamp(battery, -80, 250),
        cabin=clamp(_number(lookup(vss.CABIN_TEMP)), -80, 250),
        ambient=clamp(_number(lookup(vss.AMBIENT_TEMP)), -80, 250),
    )
    return VehicleReadings(
        soc_percent=clamp(_number(lookup(vss.SOC)), 0, 100),
        capacity_kwh=clamp(_number(lookup(vss.NET_CAPACITY)), 0.1, 1000),
        cable_connected=lookup(vss.CABLE) is True,
        charger_delivering=lookup(vss.IS_CHARGING) is True,
        charge_power_kw=clamp(_number(lookup(vss.CHARGE_POWER_KW)), 0, 1000),
        temperatures=temps,
    )
