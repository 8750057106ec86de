"""The home battery's `supervisor.nodes.adapter.NodeAdapter`."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from supervisor.policy.config import PolicyConfig
from thermal.inputs import VehicleReadings

from ..config import HomeBatteryConfig
from ..view import NodeSource, StateView
from .readings import battery_readings
from .rules import HomeBatteryRules

if TYPE_CHECKING:
    from supervisor.config.schema import Config
    from supervisor.hotpath import HotPath

    from .source import SunSpecSource


class HomeBatteryNode:
    """A battery inverter read over SunSpec Modbus TCP (``[node.home_battery]``)."""

    kind = "home-battery"
    title = "home battery"

    def __init__(self, config: HomeBatteryConfig) -> None:
        self.config = config
        self._source: SunSpecSource | None = None

    def source_name(self) -> str:
        """The inverter as it names itself once it answered ("ParkSim HB-10 (SN4711) at
        192.0.2.7:502"), its address until then."""
        if self._source is not None:
            return self._source.device  # one str, replaced whole by the reader thread
        return f"SunSpec device at {self.config.host}:{self.config.port}"

    def rules(self, policy: PolicyConfig) -> HomeBatteryRules:
        """Grid, reserve, temperature and state rules."""
        return HomeBatteryRules(self.config)

    def budget_readings(self, view: StateView) -> Callable[[], VehicleReadings]:
        """Surplus solar, state of charge and temperatures as the budget reads them."""

        def readings() -> VehicleReadings:
            state, now = view.state, view.clock()
            return battery_readings(lambda path: state.value(path, now))

        return readings

    def build_source(self, config: Config, hotpath: HotPath) -> NodeSource:
        """The SunSpec source on its own stop thread."""
        from supervisor.preempt.stop_thread import StopThreads

        from .source import SunSpecSource

        source = self._source = SunSpecSource(
            self.config,
            hotpath,
            thread=StopThreads(hotpath),
            priority=config.daemon.realtime_priority,
        )
        return source
