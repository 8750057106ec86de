"""The names on the bus: service, object path, interface, errors and signals.

The TUI keeps its own copy of these strings (it must not import the daemon's packages); the
introspection test holds both to ``interface.xml``.
"""

from __future__ import annotations

from pathlib import Path

BUS_NAME = "org.parkmesh.Supervisor1"
OBJECT_PATH = "/org/parkmesh/Supervisor1"
INTERFACE = "org.parkmesh.Supervisor1"

PROPERTIES_INTERFACE = "org.freedesktop.DBus.Properties"
INTROSPECTABLE_INTERFACE = "org.freedesktop.DBus.Introspectable"
PEER_INTERFACE = "org.freedesktop.DBus.Peer"

# Errors the service replies with. InvalidArgs always names the offending argument first
# ("value: must be between 0 and 100") so a caller can show it next to the right field.
ERROR_INVALID_ARGS = "org.parkmesh.Error.InvalidArgs"
ERROR_FAILED = "org.parkmesh.Error.Failed"
ERROR_UNAVAILABLE = "org.parkmesh.Error.Unavailable"
ERROR_UNKNOWN_METHOD = "org.freedesktop.DBus.Error.UnknownMethod"
ERROR_UNKNOWN_PROPERTY = "org.freedesktop.DBus.Error.UnknownProperty"
ERROR_PROPERTY_READ_ONLY = "org.freedesktop.DBus.Error.PropertyReadOnly"

INTERFACE_XML_PATH = Path(__file__).with_name("interface.xml")
