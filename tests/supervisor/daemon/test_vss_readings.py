"""The budget's view of the car, from VSS values (`supervisor.daemon.vss_readings`)."""

from __future__ import annotations

from typing import Any

from supervisor.daemon.vss_readings import vehicle_readings_from
from supervisor.vehicle import vss


def test_vehicle_readings_from_vss() -> None:
    values: dict[str, Any] = {
        vss.SOC: 64.5,
        vss.NET_CAPACITY: 75,
        vss.CABLE: True,
        vss.IS_CHARGING: True,
        vss.CHARGE_POWER_KW: 7.2,
        vss.PACK_TEMP: 24.0,
        vss.PACK_TEMP_MAX: 27.0,
        vss.COOLANT_TEMP: 30.0,
        vss.CABIN_TEMP: 21.0,
        vss.AMBIENT_TEMP: 999.0,
    }
    r = vehicle_readings_from(values.get)
    assert (r.soc_percent, r.capacity_kwh, r.charging, r.charge_power_kw) == (64.5, 75.0, True, 7.2)
    assert r.temperatures.battery == 27.0  # the hottest cell group counts
    assert r.temperatures.ambient is None  # out of range: unknown
    stale = vehicle_readings_from(lambda path: None)
    assert stale.soc_percent is None and not stale.charging
