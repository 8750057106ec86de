"""Building the configured vehicle source."""

from __future__ import annotations

from typing import Protocol

import trio

from supervisor.config.schema import Config
from supervisor.hotpath import HotPath
from supervisor.vehicle.can_decoder import FrameDecoder
from supervisor.vehicle.can_source import CanSource
from supervisor.vehicle.replay import ReplaySource
from supervisor.vehicle.scenario import ScenarioSource


class VehicleSource(Protocol):
    """A trio service feeding readings into the hot path."""

    name: str

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Feed readings until cancelled."""
        ...


def build_source(config: Config, hotpath: HotPath) -> VehicleSource:
    """The source named by ``vehicle.source``, with its files loaded and checked.

    Raises:
        ConfigError: a DBC, mapping, scenario or log that does not load.
    """
    vehicle = config.vehicle
    if vehicle.source == "scenario":
        return ScenarioSource.from_config(vehicle.scenario, hotpath)
    if vehicle.source == "dbus":
        from supervisor.vehicle.dbus_source import DbusSource

        return DbusSource.from_config(vehicle.dbus, hotpath)
    decoder = FrameDecoder.load(vehicle.can.dbc, vehicle.can.mapping)
    if vehicle.source == "replay":
        return ReplaySource.from_config(vehicle.replay, decoder, hotpath)
    return CanSource(vehicle.can, decoder, hotpath)
