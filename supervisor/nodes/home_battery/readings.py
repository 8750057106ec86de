"""The thermal budget's view of a home battery: surplus solar first, then the stored energy.

Surplus solar (power the battery would take from the sun alone) plays the charger's part in
`thermal.inputs.VehicleReadings`: the budget draws from it before it draws on the battery.
The enclosure (the inverter's cabinet) plays the cabin's.
"""

from __future__ import annotations

from supervisor.daemon.vss_readings import Lookup, number
from thermal.inputs import Temperatures, VehicleReadings

from . import signals as s


def battery_readings(lookup: Lookup) -> VehicleReadings:
    """The budget's inputs from the home battery's signals (None where unknown)."""
    surplus_w = number(lookup(s.SOLAR_SURPLUS_W))
    soc = number(lookup(s.SOC))
    return VehicleReadings(
        soc_percent=soc if soc is not None and 0 <= soc <= 100 else None,
        cable_connected=surplus_w is not None,
        charger_delivering=bool(surplus_w),
        charge_power_kw=None if surplus_w is None else min(surplus_w / 1000, 1000.0),
        temperatures=Temperatures(
            battery=_temp(number(lookup(s.TEMPERATURE))),
            cabin=_temp(number(lookup(s.CABINET_TEMP))),
        ),
    )


def _temp(value: float | None) -> float | None:
    return value if value is not None and -80 <= value <= 250 else None
