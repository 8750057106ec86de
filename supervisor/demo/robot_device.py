"""The demo's robot: UPower and the robot's task system (``org.parkmesh.Robot1``) on the demo's
private bus, served by one jeepney connection on a thread of its own.

The daemon follows it with its real robot source (PropertiesChanged and GetAll), so the demo
speaks the same interfaces as a robot on its dock; `set` changes a property as the robot would.
"""

from __future__ import annotations

import os
import queue
import select
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, Final

from jeepney import HeaderFields, MessageType, new_error, new_method_return, new_signal
from jeepney.bus_messages import message_bus
from jeepney.io.blocking import DBusConnection, open_dbus_connection
from jeepney.wrappers import DBusAddress

UPOWER: Final = "org.freedesktop.UPower"
DEVICE: Final = "org.freedesktop.UPower.Device"
ROBOT: Final = "org.parkmesh.Robot1"
_BATTERY: Final = "/org/freedesktop/UPower/devices/DisplayDevice"
_LINE: Final = "/org/freedesktop/UPower/devices/line_power_AC"
_ROBOT: Final = "/org/parkmesh/Robot1"

# A property the demo changes: (object path, interface, property, DBus signature).
PROPS: Final = {
    "percentage": (_BATTERY, DEVICE, "Percentage", "d"),
    "state": (_BATTERY, DEVICE, "State", "u"),
    "battery_temp": (_BATTERY, DEVICE, "Temperature", "d"),
    "online": (_LINE, DEVICE, "Online", "b"),
    "docked": (_ROBOT, ROBOT, "Docked", "b"),
    "busy": (_ROBOT, ROBOT, "Busy", "b"),
    "body_temp": (_ROBOT, ROBOT, "Temperature", "d"),
}
# On its dock, idle, charging.
DOCKED_IDLE: Final[dict[str, Any]] = {
    "percentage": 84.0,
    "state": 1,
    "battery_temp": 29.0,
    "online": True,
    "docked": True,
    "busy": False,
    "body_temp": 31.5,
}


class RobotDevice:
    """The simulated robot; `set` may be called from any thread."""

    def __init__(self, conn: DBusConnection) -> None:
        self._conn = conn
        self._changes: queue.Queue[tuple[str, Any] | None] = queue.Queue()
        self._wake_r, self._wake_w = os.pipe()
        self._closed = False
        self._values: dict[tuple[str, str], dict[str, tuple[str, Any]]] = {}
        for key, value in DOCKED_IDLE.items():
            path, iface, prop, sig = PROPS[key]
            self._values.setdefault((path, iface), {})[prop] = (sig, value)

    def set(self, key: str, value: Any) -> None:
        """Change one of `PROPS` and emit PropertiesChanged (on the device's thread)."""
        self._changes.put((key, value))
        os.write(self._wake_w, b"x")

    def close(self) -> None:
        """End the device's thread (its names stay owned but answer nothing: a hung robot).
        A second call does nothing."""
        if not self._closed:
            self._closed = True
            self._changes.put(None)
            os.write(self._wake_w, b"x")

    def serve(self) -> None:
        """The device's thread: answer Get/GetAll, apply changes, until `close`."""
        conn = self._conn
        try:
            while True:
                readable, _, _ = select.select([conn.sock, self._wake_r], [], [])
                if self._wake_r in readable:
                    os.read(self._wake_r, 64)
                    while not self._changes.empty():
                        change = self._changes.get()
                        if change is None:
                            return
                        self._emit(*change)
                if conn.sock in readable:
                    self._answer(conn.receive())
        finally:
            os.close(self._wake_r)
            os.close(self._wake_w)

    def _emit(self, key: str, value: Any) -> None:
        path, iface, prop, sig = PROPS[key]
        self._values[(path, iface)][prop] = (sig, value)
        emitter = DBusAddress(path, interface="org.freedesktop.DBus.Properties")
        body: tuple[str, dict[str, tuple[str, Any]], list[str]] = (iface, {prop: (sig, value)}, [])
        self._conn.send(new_signal(emitter, "PropertiesChanged", "sa{sv}as", body))

    def _answer(self, msg: Any) -> None:
        if msg.header.message_type != MessageType.method_call:
            return
        member = msg.header.fields.get(HeaderFields.member)
        path = msg.header.fields.get(HeaderFields.path)
        props = self._values.get((path, msg.body[0])) if msg.body else None
        if member == "GetAll" and props is not None:
            self._conn.send(new_method_return(msg, "a{sv}", (props,)))
        elif member == "Get" and props is not None and msg.body[1] in props:
            self._conn.send(new_method_return(msg, "v", (props[msg.body[1]],)))
        else:
            self._conn.send(new_error(msg, "org.freedesktop.DBus.Error.UnknownMethod"))


@contextmanager
def running_robot(bus: str) -> Iterator[RobotDevice]:
    """Own UPower's and the robot's names on `bus` and serve them until the block ends."""
    conn = open_dbus_connection(bus)
    for name in (UPOWER, ROBOT):
        conn.send_and_get_reply(message_bus.RequestName(name))
    device = RobotDevice(conn)
    thread = threading.Thread(target=device.serve, name="parkmesh-demo-robot", daemon=True)
    thread.start()
    try:
        yield device
    finally:
        device.close()
        thread.join(5)
        conn.close()
