"""Building the configured node's source (the car's vehicle source by default), on the stop
thread."""

from __future__ import annotations

from typing import Protocol

import trio

from supervisor.config.schema import Config
from supervisor.hotpath import HotPath
from supervisor.nodes.adapter import adapter_for
from supervisor.preempt.stop_thread import idle_body, run_stop_thread


class VehicleSource(Protocol):
    """A trio service feeding readings into the hot path."""

    name: str

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Feed readings until cancelled."""
        ...


class FedStopThread:
    """A source that feeds the hot path from trio (scenario, replay, a test's), plus the stop
    thread that owns the hot path meanwhile: its readings are handed to that thread, which
    also decides staleness on its own deadlines.

    Cancellation: the source stops, then the stop thread ends.
    """

    def __init__(self, source: VehicleSource, hotpath: HotPath, priority: int) -> None:
        self.source = source
        self.name = source.name
        self.hotpath = hotpath
        self.priority = priority

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Start the stop thread, then the source; started once both are."""
        async with trio.open_nursery() as nursery:
            await nursery.start(
                lambda task_status: run_stop_thread(
                    self.hotpath,
                    idle_body,
                    name=f"parkmesh-stop-{self.name}",
                    priority=self.priority,
                    task_status=task_status,
                )
            )
            await nursery.start(self.source.run)
            task_status.started()


def on_stop_thread(source: VehicleSource, hotpath: HotPath, priority: int) -> VehicleSource:
    """`source` itself if it reads on its own stop thread (CAN, DBus), else `source` with a
    stop thread beside it (`FedStopThread`)."""
    if getattr(source, "owns_stop_thread", False):
        return source
    return FedStopThread(source, hotpath, priority)


def build_source(config: Config, hotpath: HotPath) -> VehicleSource:
    """The source of ``[node] kind`` (`supervisor.nodes`; the car's is the one named by
    ``vehicle.source``), with its files loaded and checked, feeding `hotpath` (the CAN, DBus,
    SunSpec and robot sources from a stop thread owning it, `StopThreads`).

    Raises:
        ConfigError: a DBC, mapping, scenario or log that does not load.
    """
    return adapter_for(config.node).build_source(config, hotpath)
