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


class HomeBatteryNode:
    """A battery inverter read over SunSpec Modbus TCP (``[node.home_battery]``)."""

    kind = "home-battery"
    title = "home battery"

    def __init__(self, config: HomeBatteryConfig) -> None:
        self.config = config

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

        return SunSpecSource(
            self.config,
            hotpath,
            thread=StopThreads(hotpath),
            priority=config.daemon.realtime_priority,
        )
