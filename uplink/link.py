"""What kind of link the car has: type and metering, from NetworkManager where it runs.

NetworkManager's ``PrimaryConnectionType`` (``802-11-wireless``, ``802-3-ethernet``, ``gsm``,
``cdma``...) gives the type and its ``Metered`` property (NMMetered: 1 yes, 3 guessed yes, 2 no,
4 guessed no, 0 unknown) the metering. Where NetworkManager is absent (no system bus, service
not running) the configured values stand. Read with jeepney's blocking client in a worker
thread: one call every ``rtt_interval_s`` is cheap and keeps a slow bus away from the trio loop.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

LOG = logging.getLogger("parkmesh.uplink.link")

NM_BUS = "org.freedesktop.NetworkManager"
NM_PATH = "/org/freedesktop/NetworkManager"
_TYPES = {
    "802-11-wireless": "wifi",
    "802-3-ethernet": "ethernet",
    "gsm": "cellular",
    "cdma": "cellular",
    "wimax": "cellular",
    "bluetooth": "cellular",
}
_METERED = {1: True, 3: True, 2: False, 4: False}


@dataclass(frozen=True, slots=True)
class LinkInfo:
    """The car's primary link."""

    type: str
    metered: bool
    source: str  # "networkmanager" or "config"


def map_networkmanager(connection_type: str, metered: int, fallback: LinkInfo) -> LinkInfo:
    """Turn NetworkManager's two properties into a `LinkInfo` (unknown parts from `fallback`)."""
    kind = _TYPES.get(connection_type, fallback.type if not connection_type else "unknown")
    return LinkInfo(kind, _METERED.get(metered, fallback.metered), "networkmanager")


def read_networkmanager(
    fallback: LinkInfo, timeout_s: float = 1.0, bus: str = "SYSTEM"
) -> LinkInfo | None:
    """Ask NetworkManager on `bus` (the system bus; an address in tests), blocking; None when
    it cannot be asked (no bus, no NetworkManager, a slow or odd answer)."""
    try:
        from jeepney import DBusAddress, Properties
        from jeepney.io.blocking import open_dbus_connection
    except ImportError:  # pragma: no cover - jeepney is a dependency
        return None
    try:
        conn = open_dbus_connection(bus=bus)
    except (OSError, KeyError, ValueError) as exc:
        LOG.debug("no system bus for NetworkManager: %s", exc)
        return None
    try:
        props = Properties(DBusAddress(NM_PATH, bus_name=NM_BUS, interface=NM_BUS))
        ctype = conn.send_and_get_reply(props.get("PrimaryConnectionType"), timeout=timeout_s)
        metered = conn.send_and_get_reply(props.get("Metered"), timeout=timeout_s)
        if ctype.header.message_type.name == "error" or metered.header.message_type.name == "error":
            return None
        return map_networkmanager(str(ctype.body[0][1]), int(metered.body[0][1]), fallback)
    except (OSError, TimeoutError, ValueError, IndexError, TypeError) as exc:
        LOG.debug("NetworkManager not readable: %s", exc)
        return None
    finally:
        conn.close()
