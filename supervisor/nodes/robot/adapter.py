"""The docked robot's `supervisor.nodes.adapter.NodeAdapter`."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from supervisor.policy.config import PolicyConfig
from thermal.inputs import VehicleReadings

from ..config import RobotConfig
from ..view import NodeSource, StateView
from .readings import robot_readings
from .rules import RobotRules

if TYPE_CHECKING:
    from supervisor.config.schema import Config
    from supervisor.hotpath import HotPath


class RobotNode:
    """A docked robot on UPower and its task system's DBus interface (``[node.robot]``)."""

    kind = "robot"
    title = "robot"

    def __init__(self, config: RobotConfig) -> None:
        self.config = config

    def source_name(self) -> str:
        """UPower and the robot's task system, and the bus they are read on."""
        return f"UPower and org.parkmesh.Robot1 on {self.config.bus}"

    def rules(self, policy: PolicyConfig) -> RobotRules:
        """Dock, task and battery rules."""
        return RobotRules()

    def budget_readings(self, view: StateView) -> Callable[[], VehicleReadings]:
        """The dock as the charger, the battery and temperatures as the budget reads them."""

        def readings() -> VehicleReadings:
            state, now = view.state, view.clock()
            return robot_readings(lambda path: state.value(path, now), self.config)

        return readings

    def build_source(self, config: Config, hotpath: HotPath) -> NodeSource:
        """The UPower and robot source on its own stop thread."""
        from supervisor.preempt.stop_thread import StopThreads

        from .source import RobotSource

        return RobotSource(
            self.config,
            hotpath,
            thread=StopThreads(hotpath),
            priority=config.daemon.realtime_priority,
        )
