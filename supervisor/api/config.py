"""How clients pick the bus of the DBus API (the ``[api]`` section is `supervisor.api.section`).

The daemon serves on ``api.bus``; a client (CLI, TUI) uses ``PARKMESH_BUS_ADDRESS`` when set,
else the configured bus. ``"system"`` and ``"session"`` name the standard buses; anything else is
a DBus address such as ``unix:path=/run/parkmesh/bus``.
"""

from __future__ import annotations

import os
from pathlib import Path

from .section import ApiConfig as ApiConfig

BUS_ENV = "PARKMESH_BUS_ADDRESS"


def jeepney_bus(bus: str) -> str:
    """The bus argument jeepney expects: ``SYSTEM``, ``SESSION`` or the address itself.

    Raises:
        ValueError: for an empty bus name.
    """
    bus = bus.strip()
    if not bus:
        raise ValueError("bus: must be 'system', 'session' or a DBus address, not empty")
    if bus.lower() in ("system", "session"):
        return bus.upper()
    return bus


def client_bus(configured: str | None = None) -> str:
    """The bus a client should use: ``$PARKMESH_BUS_ADDRESS``, else `configured`, else system."""
    return os.environ.get(BUS_ENV) or configured or "system"


def configured_bus(config_file: Path | None = None) -> str | None:
    """``api.bus`` from `config_file` (or the default file when it exists), None without one.

    Raises:
        ConfigError: the file is malformed (file, line and key named).
    """
    from supervisor.config.load import DEFAULT_PATH, load_config

    if config_file is None and not DEFAULT_PATH.exists():
        return None
    return load_config(config_file or DEFAULT_PATH).api.bus
