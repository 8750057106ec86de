"""The ``[api]`` configuration section: where the daemon serves its DBus API.

Declared apart from `supervisor.api.config` (how clients pick the bus, which reads the
configuration file) so that the schema gathering every section imports no loader.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from msgspec import Meta


@dataclass(frozen=True, slots=True)
class ApiConfig:
    """``[api]``: where the DBus API ``org.parkmesh.Supervisor1`` is served."""

    bus: Annotated[
        str, Meta(description="'system', 'session' or a DBus address (unix:path=...)")
    ] = "system"
    poll_s: Annotated[
        float,
        Meta(
            ge=0.05,
            le=10.0,
            description="how often properties are compared and PropertiesChanged sent",
        ),
        # Once a second: state changes are sent at once anyway (the facade's events); this
        # catches readings (SoC, temperatures), and an idle daemon should not wake for more.
    ] = 1.0
    log_lines: Annotated[
        int, Meta(ge=10, description="how many recent log lines GetLog can return")
    ] = 200
