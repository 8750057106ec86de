"""The robot's source: UPower and the robot's task system, followed on DBus.

It is the vehicle DBus source (`supervisor.vehicle.dbus_source`: PropertiesChanged read on the
stop thread, GetAll every ``poll_s``, a name that leaves the bus is a failed source) with a
mapping built here, for two fixed interfaces instead of a gateway's file:

- ``org.freedesktop.UPower`` — the battery device's ``Percentage``, ``State`` and
  ``Temperature`` (``org.freedesktop.UPower.Device``) and the line power's ``Online``;
- ``org.parkmesh.Robot1`` at ``/org/parkmesh/Robot1`` — the robot's task system: ``Docked``
  (b), ``Busy`` (b) and ``Temperature`` (d, °C, inside the body), with PropertiesChanged.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Final

from supervisor.vehicle.config import DbusSourceConfig
from supervisor.vehicle.dbus_mapping import DbusEntry, DbusMapping
from supervisor.vehicle.dbus_source import DbusSource
from supervisor.vehicle.mapping import SignalMapping
from supervisor.vehicle.sink import ReaderThread, ReadingSink
from supervisor.vehicle.state import Value

from ..config import RobotConfig
from . import signals as s

UPOWER: Final = "org.freedesktop.UPower"
UPOWER_DEVICE: Final = "org.freedesktop.UPower.Device"
ROBOT: Final = "org.parkmesh.Robot1"
ROBOT_PATH: Final = "/org/parkmesh/Robot1"


def robot_mapping(config: RobotConfig) -> DbusMapping:
    """The DBus coordinates of every robot signal."""

    def entry(
        bus: str,
        obj: str,
        iface: str,
        prop: str,
        path: str,
        values: Mapping[str | int | float, Value] = {},
    ) -> DbusEntry:
        spec = SignalMapping(
            vss=s.CATALOG[path],
            message=f"{iface}.{prop}",
            signal=prop,
            values=values,
            default=None,  # a code not listed is unknown, and unknown is unsafe
            transform=None,
            min_interval_s=0.0,
            on_change=False,
            max_age_s=config.max_age_s,
        )
        return DbusEntry(bus, obj, iface, prop, spec)

    battery, line = config.battery_device, config.line_power_device
    states: dict[str | int | float, Value] = {code: name for code, name in s.UPOWER_STATES.items()}
    entries = (
        entry(UPOWER, battery, UPOWER_DEVICE, "Percentage", s.SOC),
        entry(UPOWER, battery, UPOWER_DEVICE, "State", s.BATTERY_STATE, states),
        entry(UPOWER, battery, UPOWER_DEVICE, "Temperature", s.BATTERY_TEMP),
        entry(UPOWER, line, UPOWER_DEVICE, "Online", s.CHARGER_ONLINE),
        entry(ROBOT, ROBOT_PATH, ROBOT, "Docked", s.DOCKED),
        entry(ROBOT, ROBOT_PATH, ROBOT, "Busy", s.BUSY),
        entry(ROBOT, ROBOT_PATH, ROBOT, "Temperature", s.BODY_TEMP),
    )
    return DbusMapping(None, config.poll_s, entries)


class RobotSource(DbusSource):
    """A trio service following UPower and the robot on the stop thread (see `DbusSource`)."""

    name = "upower"

    def __init__(
        self, config: RobotConfig, sink: ReadingSink, *, thread: ReaderThread, priority: int = 0
    ) -> None:
        super().__init__(
            DbusSourceConfig(bus=config.bus, mapping=Path("/dev/null"), retry_s=config.retry_s),
            robot_mapping(config),
            sink,
            thread=thread,
            priority=priority,
        )
