"""A vehicle gateway on a real DBus bus, for the DBus source's tests.

Run as ``python dbus_gateway_peer.py ADDRESS``. It owns ``org.parkmesh.VehicleGateway1``,
answers ``Properties.Get``/``GetAll`` for the interfaces of the shipped gateway mapping, and
reads commands from stdin, one per line: ``set INTERFACE PROPERTY JSON`` changes a property
(its DBus type follows the JSON value) and emits PropertiesChanged; ``mute`` stops answering
method calls (a hung gateway). It prints ``ready`` once it owns its name.
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

NAME = "org.parkmesh.VehicleGateway1"
PATH = "/org/parkmesh/VehicleGateway1"
BODY = f"{NAME}.Body"
DRIVE = f"{NAME}.Drive"
BATTERY = f"{NAME}.Battery"

PARKED: dict[str, dict[str, tuple[str, Any]]] = {
    BODY: {
        "DriverDoorOpen": ("b", False),
        "PassengerDoorOpen": ("b", False),
        "RearLeftDoorOpen": ("b", False),
        "RearRightDoorOpen": ("b", False),
        "TrunkOpen": ("b", False),
        "FrunkOpen": ("b", False),
        "DriverSeat": ("s", "empty"),
        "PowerState": ("s", "off"),
    },
    DRIVE: {"Gear": ("s", "P"), "SpeedKph": ("d", 0.0)},
    BATTERY: {
        "StateOfCharge": ("d", 72.0),
        "CableConnected": ("b", True),
        "ChargePowerKw": ("d", 7.2),
    },
}


def main(address: str) -> int:
    props = {iface: dict(values) for iface, values in PARKED.items()}
    conn = open_dbus_connection(address)
    conn.send_and_get_reply(message_bus.RequestName(NAME))
    print("ready", flush=True)
    muted = False
    emitter_cache: dict[str, DBusAddress] = {}
    while True:
        readable, _, _ = select.select([conn.sock, sys.stdin], [], [])
        if sys.stdin in readable:
            line = sys.stdin.readline()
            if not line:
                return 0
            words = line.split(maxsplit=3)
            if words[0] == "mute":
                muted = True
            elif words[0] == "set":
                iface, prop, raw = words[1], words[2], json.loads(words[3])
                # The signature follows the JSON value, so a test can send a wrong type.
                sig = {bool: "b", int: "i", float: "d", str: "s"}[type(raw)]
                props[iface][prop] = (sig, raw)
                emitter = emitter_cache.setdefault(
                    iface, DBusAddress(PATH, interface="org.freedesktop.DBus.Properties")
                )
                conn.send(
                    new_signal(
                        emitter, "PropertiesChanged", "sa{sv}as", (iface, {prop: (sig, raw)}, [])
                    )
                )
            print("ok", flush=True)
        if conn.sock in readable:
            msg = conn.receive()
            if msg.header.message_type != MessageType.method_call or muted:
                continue
            member = msg.header.fields.get(HeaderFields.member)
            if member == "GetAll" and msg.body[0] in props:
                conn.send(new_method_return(msg, "a{sv}", (props[msg.body[0]],)))
            elif member == "Get" and msg.body[0] in props and msg.body[1] in props[msg.body[0]]:
                conn.send(new_method_return(msg, "v", (props[msg.body[0]][msg.body[1]],)))
            else:
                conn.send(new_error(msg, "org.freedesktop.DBus.Error.UnknownMethod"))


if __name__ == "__main__":
    os.environ.pop("DBUS_SESSION_BUS_ADDRESS", None)
    sys.exit(main(sys.argv[1]))
