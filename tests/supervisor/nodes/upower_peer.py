"""UPower and a robot's task system on a real DBus bus, for the robot node's tests.

Run as ``python upower_peer.py ADDRESS``. It owns ``org.freedesktop.UPower`` (the display
battery device and the AC line power, ``org.freedesktop.UPower.Device``) and
``org.parkmesh.Robot1`` (``/org/parkmesh/Robot1``: Docked, Busy, Temperature), answers
``Properties.Get``/``GetAll`` and reads commands from stdin, one per line, each answered
``ok``: ``set KEY JSON`` changes a property (KEY in `PROPS`) and emits PropertiesChanged;
``mute`` stops answering method calls; ``drop NAME`` releases a bus name. Prints ``ready``.
"""

from __future__ import annotations

import json
import os
import select
import sys
from typing import Any

from jeepney import HeaderFields, MessageType, new_error, new_method_return, new_signal
from jeepney.bus_messages import message_bus
from jeepney.io.blocking import open_dbus_connection
from jeepney.wrappers import DBusAddress

UPOWER = "org.freedesktop.UPower"
DEVICE = "org.freedesktop.UPower.Device"
ROBOT = "org.parkmesh.Robot1"
BATTERY_PATH = "/org/freedesktop/UPower/devices/DisplayDevice"
LINE_PATH = "/org/freedesktop/UPower/devices/line_power_AC"
ROBOT_PATH = "/org/parkmesh/Robot1"

# key: (object path, interface, property, signature)
PROPS = {
    "percentage": (BATTERY_PATH, DEVICE, "Percentage", "d"),
    "state": (BATTERY_PATH, DEVICE, "State", "u"),
    "battery_temp": (BATTERY_PATH, DEVICE, "Temperature", "d"),
    "online": (LINE_PATH, DEVICE, "Online", "b"),
    "docked": (ROBOT_PATH, ROBOT, "Docked", "b"),
    "busy": (ROBOT_PATH, ROBOT, "Busy", "b"),
    "body_temp": (ROBOT_PATH, ROBOT, "Temperature", "d"),
}
DOCKED_IDLE = {
    "percentage": 84.0,
    "state": 1,  # Charging
    "battery_temp": 29.0,
    "online": True,
    "docked": True,
    "busy": False,
    "body_temp": 31.5,
}


def main(address: str) -> int:
    values: dict[tuple[str, str], dict[str, tuple[str, Any]]] = {}
    for key, value in DOCKED_IDLE.items():
        path, iface, prop, sig = PROPS[key]
        values.setdefault((path, iface), {})[prop] = (sig, value)
    conn = open_dbus_connection(address)
    for name in (UPOWER, ROBOT):
        conn.send_and_get_reply(message_bus.RequestName(name))
    print("ready", flush=True)
    muted = False
    while True:
        readable, _, _ = select.select([conn.sock, sys.stdin], [], [])
        if sys.stdin in readable:
            line = sys.stdin.readline()
            if not line:
                return 0
            words = line.split(maxsplit=2)
            if words[0] == "mute":
                muted = True
            elif words[0] == "drop":
                conn.send_and_get_reply(message_bus.ReleaseName(words[1]))
            elif words[0] == "set":
                path, iface, prop, sig = PROPS[words[1]]
                value = json.loads(words[2])
                values[(path, iface)][prop] = (sig, value)
                emitter = DBusAddress(path, interface="org.freedesktop.DBus.Properties")
                conn.send(
                    new_signal(
                        emitter, "PropertiesChanged", "sa{sv}as", (iface, {prop: (sig, value)}, [])
                    )
                )
            print("ok", flush=True)
        if conn.sock in readable:
            msg = conn.receive()
            if msg.header.message_type != MessageType.method_call or muted:
                continue
            member = msg.header.fields.get(HeaderFields.member)
            props = values.get((msg.header.fields.get(HeaderFields.path), msg.body[0]))
            if member == "GetAll" and props is not None:
                conn.send(new_method_return(msg, "a{sv}", (props,)))
            elif member == "Get" and props is not None and msg.body[1] in props:
                conn.send(new_method_return(msg, "v", (props[msg.body[1]],)))
            else:
                conn.send(new_error(msg, "org.freedesktop.DBus.Error.UnknownMethod"))


if __name__ == "__main__":
    os.environ.pop("DBUS_SESSION_BUS_ADDRESS", None)
    sys.exit(main(sys.argv[1]))
