"""What a node kind's parts see of the daemon: the state with its clock, and what a source is."""

from __future__ import annotations

from typing import Protocol

import trio

from supervisor.vehicle.state import VehicleState


class StateView(Protocol):
    """What the budget inputs read: the state and its clock (`HotPath` is one)."""

    @property
    def state(self) -> VehicleState:
        """The node's signals."""
        ...

    def clock(self) -> float:
        """Now, on the state's clock."""
        ...


class NodeSource(Protocol):
    """A trio service feeding readings into the hot path (as
    `supervisor.daemon.sources.VehicleSource`)."""

    name: str

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Feed readings until cancelled."""
        ...
