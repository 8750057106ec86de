"""DBus gateway mappings: which (bus name, object, interface, property) feeds which VSS path.

The same TOML format as CAN mappings (docs/mapping.md), with the source named by DBus
coordinates instead of a DBC message and signal::

    [gateway]
    bus_name = "org.parkmesh.VehicleGateway1"   # default for every entry
    poll_s = 0.5        # every property is also re-read this often (a hung gateway goes stale)

    [[signal]]
    path = "Vehicle.Powertrain.Transmission.SelectedGear"
    object_path = "/org/parkmesh/VehicleGateway1"
    interface = "org.parkmesh.VehicleGateway1.Drive"
    property = "Gear"
    values = { P = 126, D = 127, N = 0, R = -1 }
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from supervisor.config.errors import ConfigError

from .mapping import MappingLoader, SignalMapping, read_mapping_text
from .mapping_shape import GatewayTable

_BUS_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_-]*(\.[A-Za-z_][A-Za-z0-9_-]*)+$")
_OBJECT_PATH = re.compile(r"^/([A-Za-z0-9_]+(/[A-Za-z0-9_]+)*)?$")
_INTERFACE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)+$")


@dataclass(frozen=True, slots=True)
class DbusEntry:
    """One mapped property."""

    bus_name: str
    object_path: str
    interface: str
    property: str
    spec: SignalMapping


@dataclass(frozen=True, slots=True)
class DbusMapping:
    """A loaded DBus mapping."""

    file: Path | None
    poll_s: float
    entries: tuple[DbusEntry, ...]

    @property
    def bus_names(self) -> frozenset[str]:
        """Every gateway bus name."""
        return frozenset(e.bus_name for e in self.entries)

    @property
    def objects(self) -> frozenset[tuple[str, str, str]]:
        """Every (bus name, object path, interface) to read with GetAll."""
        return frozenset((e.bus_name, e.object_path, e.interface) for e in self.entries)


def load_dbus_mapping(file: Path) -> DbusMapping:
    """Load and check a DBus mapping.

    Raises:
        ConfigError: naming the file, line and key of the first problem.
    """
    loader = MappingLoader(file, read_mapping_text(file))
    gateway = loader.parse(GatewayTable, loader.doc.get("gateway", {}), "gateway")
    default_bus, poll_s = gateway.bus_name, gateway.poll_s
    entries = []
    for index, raw in loader.entries():
        key = f"signal[{index}]"
        line = loader.entry_line(index)
        coords = {
            "bus_name": (raw.get("bus_name", default_bus), _BUS_NAME),
            "object_path": (raw.get("object_path"), _OBJECT_PATH),
            "interface": (raw.get("interface"), _INTERFACE),
            "property": (raw.get("property"), re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")),
        }
        for name, (value, pattern) in coords.items():
            if not isinstance(value, str) or not pattern.match(value):
                raise loader.error(
                    f"{key}.{name}", f"missing or not a valid DBus {name}: {value!r}", line
                )
        spec = loader.build(
            index,
            raw,
            {},
            f"{coords['interface'][0]}.{coords['property'][0]}",
            str(coords["interface"][0]),
            str(coords["property"][0]),
            free_keys=True,
        )
        if spec.max_age_s <= poll_s:
            raise loader.error(
                f"{key}.max_age_s",
                f"{spec.max_age_s} s must be longer than gateway.poll_s ({poll_s} s)"
                " or the signal goes stale between polls",
                line,
            )
        entries.append(
            DbusEntry(
                str(coords["bus_name"][0]),
                str(coords["object_path"][0]),
                str(coords["interface"][0]),
                str(coords["property"][0]),
                spec,
            )
        )
    if not entries:
        raise ConfigError("no [[signal]] entries", file=file)
    return DbusMapping(file, poll_s, tuple(entries))
