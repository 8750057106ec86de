"""A node kind as the daemon sees it: its rules, its budget inputs and its source.

    adapter = adapter_for(config.node)
    policy = AdmissionPolicy(config.policy, adapter.rules(config.policy))
    source = adapter.build_source(config, hotpath)        # on the stop thread
    budget = BudgetService(config.budget, adapter.budget_readings(hotpath), ...)

Each kind lives in its own module (`car`, `home_battery`, `robot`), imported only when chosen:
the home battery brings pymodbus, which a car does not need.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Protocol

from supervisor.policy.config import PolicyConfig
from supervisor.policy.rules import NodeRules
from thermal.inputs import VehicleReadings

from .config import NodeConfig
from .view import NodeSource, StateView

if TYPE_CHECKING:
    from supervisor.config.schema import Config
    from supervisor.hotpath import HotPath


class NodeAdapter(Protocol):
    """One kind of node.

    Attributes:
        kind: the ``[node] kind`` value ("car", "home-battery", "robot").
        title: how the node is named to people ("car", "home battery", "robot").
    """

    kind: str
    title: str

    def rules(self, policy: PolicyConfig) -> NodeRules:
        """The kind's hard-stop rules for the admission policy."""
        ...

    def budget_readings(self, view: StateView) -> Callable[[], VehicleReadings]:
        """A function giving the budget's inputs now (stale values unknown)."""
        ...

    def build_source(self, config: Config, hotpath: HotPath) -> NodeSource:
        """The kind's source, feeding `hotpath`. Raises ConfigError for bad files."""
        ...

    def source_name(self) -> str:
        """The node's own name for its source, as `why` shows it (`identity.NodeIdentity`)."""
        ...


def adapter_for(node: NodeConfig) -> NodeAdapter:
    """The adapter of ``[node] kind``."""
    if node.kind == "home-battery":
        from .home_battery.adapter import HomeBatteryNode

        return HomeBatteryNode(node.home_battery)
    if node.kind == "robot":
        from .robot.adapter import RobotNode

        return RobotNode(node.robot)
    from .car import CarNode

    return CarNode()
