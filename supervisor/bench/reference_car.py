"""Frames of the parkmesh reference vehicle, encoded with cantools from its own DBC.

Used by the signal benchmark's sender process, the simulator and the tests, so that they all
speak exactly the bus the reference mapping decodes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cantools
import cantools.database

from supervisor.vehicle.config import DATA_DIR

REFERENCE_DBC = DATA_DIR / "parkmesh_reference.dbc"
REFERENCE_MAPPING = DATA_DIR / "reference_mapping.toml"

# Nominal frame periods of the reference car (seconds), from the DBC's GenMsgCycleTime.
PERIODS = {
    "PM_BodyStatus": 0.1,
    "PM_DriveStatus": 0.02,
    "PM_BatteryStatus": 0.1,
    "PM_ChargeStatus": 0.1,
    "PM_ThermalStatus": 1.0,
}


@dataclass
class ReferenceCar:
    """The reference car's signal values, and their frames."""

    body: dict[str, Any] = field(
        default_factory=lambda: {
            "PM_doorFrontLeft": "CLOSED",
            "PM_doorFrontRight": "CLOSED",
            "PM_doorRearLeft": "CLOSED",
            "PM_doorRearRight": "CLOSED",
            "PM_trunk": "CLOSED",
            "PM_frunk": "CLOSED",
            "PM_driverSeat": "EMPTY",
            "PM_lvState": "OFF",
            "PM_bodyCounter": 0,
        }
    )
    drive: dict[str, Any] = field(
        default_factory=lambda: {"PM_gear": "P", "PM_speed": 0.0, "PM_driveCounter": 0}
    )
    battery: dict[str, Any] = field(
        default_factory=lambda: {
            "PM_soc": 72.0,
            "PM_netCapacity": 75,
            "PM_packTempAvg": 24.0,
            "PM_packTempMax": 26.0,
        }
    )
    charge: dict[str, Any] = field(
        default_factory=lambda: {
            "PM_cable": "CONNECTED",
            "PM_charging": "CHARGING",
            "PM_chargePower": 7.2,
        }
    )
    thermal: dict[str, Any] = field(
        default_factory=lambda: {
            "PM_coolantTemp": 28.0,
            "PM_cabinTemp": 22.0,
            "PM_ambientTemp": 15.0,
        }
    )
    dbc: Path = REFERENCE_DBC

    def __post_init__(self) -> None:
        db = cantools.database.load_file(str(self.dbc))
        assert isinstance(db, cantools.database.can.Database)
        self.db = db

    def frame(self, message: str) -> tuple[int, bytes]:
        """(arbitration id, payload) of `message` with the current values."""
        values = {
            "PM_BodyStatus": self.body,
            "PM_DriveStatus": self.drive,
            "PM_BatteryStatus": self.battery,
            "PM_ChargeStatus": self.charge,
            "PM_ThermalStatus": self.thermal,
        }[message]
        msg = self.db.get_message_by_name(message)
        return msg.frame_id, bytes(msg.encode(values))

    def all_frames(self) -> list[tuple[int, bytes]]:
        """One frame of every message."""
        return [self.frame(name) for name in PERIODS]
