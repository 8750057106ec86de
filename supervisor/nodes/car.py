"""The car: the [vehicle] sources (CAN, DBus gateway, scenario, replay), its VSS rules
(`supervisor.policy.vehicle_rules`) and its VSS budget inputs (`supervisor.daemon.vss_readings`)."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from supervisor.daemon.vss_readings import vehicle_readings_from
from supervisor.policy.config import PolicyConfig
from supervisor.policy.rules import CarRules
from thermal.inputs import VehicleReadings

from .identity import vehicle_source_name
from .view import NodeSource, StateView

if TYPE_CHECKING:
    from supervisor.config.schema import Config
    from supervisor.hotpath import HotPath


class CarNode:
    """The car's `supervisor.nodes.adapter.NodeAdapter`."""

    kind = "car"
    title = "car"

    def __init__(self) -> None:
        # Named by `build_source`: a source the daemon was handed instead (a test's, a
        # demo's) is not the car's to name.
        self._source_name = ""

    def source_name(self) -> str:
        """The ``[vehicle]`` source once built ("CAN can0 (Model3CAN.dbc)"), else ""."""
        return self._source_name

    def rules(self, policy: PolicyConfig) -> CarRules:
        """The car's rules, with ``[policy] required_signals`` and ``safe_power_states``."""
        return CarRules(policy)

    def budget_readings(self, view: StateView) -> Callable[[], VehicleReadings]:
        """The car's VSS signals as the budget reads them."""

        def readings() -> VehicleReadings:
            state, now = view.state, view.clock()
            return vehicle_readings_from(lambda path: state.value(path, now))

        return readings

    def build_source(self, config: Config, hotpath: HotPath) -> NodeSource:
        """The source named by ``vehicle.source``, with its files loaded and checked, feeding
        `hotpath` (the CAN and DBus sources from a stop thread owning it, `StopThreads`).

        Raises:
            ConfigError: a DBC, mapping, scenario or log that does not load.
        """
        from supervisor.preempt.stop_thread import StopThreads
        from supervisor.vehicle.can_decoder import FrameDecoder
        from supervisor.vehicle.can_source import CanSource
        from supervisor.vehicle.replay import ReplaySource
        from supervisor.vehicle.scenario import ScenarioSource

        vehicle = config.vehicle
        priority = config.daemon.realtime_priority
        self._source_name = vehicle_source_name(vehicle)
        if vehicle.source == "scenario":
            return ScenarioSource.from_config(vehicle.scenario, hotpath)
        if vehicle.source == "dbus":
            from supervisor.vehicle.dbus_source import DbusSource

            return DbusSource.from_config(
                vehicle.dbus, hotpath, thread=StopThreads(hotpath), priority=priority
            )
        decoder = FrameDecoder.load(vehicle.can.dbc, vehicle.can.mapping)
        if vehicle.source == "replay":
            return ReplaySource.from_config(vehicle.replay, decoder, hotpath)
        return CanSource(
            vehicle.can, decoder, hotpath, thread=StopThreads(hotpath), priority=priority
        )
