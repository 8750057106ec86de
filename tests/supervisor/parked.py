"""A car parked and safe, as VSS readings: the starting point of the policy and daemon tests."""

from __future__ import annotations

from supervisor.vehicle import vss
from supervisor.vehicle.state import Value

PARKED: dict[str, Value] = {
    **{door: False for door in vss.DOORS},
    vss.TRUNK_REAR: False,
    vss.TRUNK_FRONT: False,
    vss.GEAR: vss.GEAR_PARK,
    vss.SPEED: 0.0,
    vss.DRIVER_SEAT: "EMPTY",
    vss.SOC: 72.0,
    vss.LOW_VOLTAGE_STATE: "OFF",
}
