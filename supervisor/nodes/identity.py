"""How a node names itself to people: its kind and its own name for the source it reads.

``parkmesh why``, ``parkmesh status`` and the TUI's Overview show both (the API's ``NodeKind``
and ``NodeSource`` properties), so that a technician sees at once whose reasons these are (a
car's, a home battery's, a robot's) and which device they come from: the battery's make,
model and serial as its inverter reports them, the robot's bus, the car's CAN channel.
"""

from __future__ import annotations

from typing import Protocol

from supervisor.vehicle.config import VehicleConfig


class NodeIdentity(Protocol):
    """What the daemon's facade shows of the node kind (`NodeAdapter` is one).

    Attributes:
        kind: the ``[node] kind`` value ("car", "home-battery", "robot").
        title: how the kind is named to people ("car", "home battery", "robot").
    """

    kind: str
    title: str

    def source_name(self) -> str:
        """The node's own name for its source, now (it may improve once the device
        answered: a battery names itself on connecting); "" when it has none."""
        ...


def vehicle_source_name(vehicle: VehicleConfig) -> str:
    """The car's ``[vehicle]`` source in a few words ("CAN can0 (Model3CAN.dbc)")."""
    if vehicle.source == "scenario":
        return f"scenario {vehicle.scenario.file.name}"
    if vehicle.source == "replay":
        log = vehicle.replay.log
        return f"replay of {log.name if log is not None else 'no log'}"
    if vehicle.source == "dbus":
        return f"DBus vehicle gateway on {vehicle.dbus.bus}"
    can = vehicle.can
    return f"CAN {can.channel} ({can.dbc.name})"
