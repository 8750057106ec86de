"""The fake daemon with the daemon's real input handling: preferences, curtailments and the
owner's pause go to the real `DaemonFacade` over a real thermal `BudgetService` and hot path,
and ``GetLog`` reads a real `LogRing` fed by the root logger (so the API's own log lines,
refusals included, are what it returns).

In-process (`RealPartsFacade`, `logging_into`) and as its own process:

    python tests/supervisor/api/parkmesh_real_parts.py --bus ADDRESS --state DIR

prints ``ready`` once the name is owned, logs to stderr through the daemon's own handler
(`supervisor.daemon.logs.setup_logging`), and ends when stdin closes.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import trio

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[3]))

import trio.lowlevel
from parkmesh_fake_daemon import FakeFacade

from sandbox.board import PageBoard
from supervisor.api.service import ApiService
from supervisor.daemon.facade import DaemonFacade
from supervisor.daemon.log_ring import LogRing
from supervisor.daemon.logs import setup_logging
from supervisor.daemon.stop_watch import StopWatch
from supervisor.hotpath import HotPath
from supervisor.policy import AdmissionPolicy, PolicyConfig
from supervisor.vehicle.state import VehicleState
from thermal.config import BudgetConfig
from thermal.inputs import Temperatures, VehicleReadings
from thermal.preferences import OwnerPreferences
from thermal.prefstore import PreferenceStore
from thermal.sensors import DeviceMonitor
from thermal.service import BudgetService

READINGS = VehicleReadings(80.0, 75.0, True, True, 7.2, Temperatures(25.0, 22.0, 21.0, 15.0))
# How long the facade's stop watch waits (no worker here: nothing to wait for).
STOP_WAIT_S = 0.1


class RealPartsFacade(FakeFacade):
    """`FakeFacade` whose preferences, curtailments and log are the daemon's real ones."""

    def __init__(self, state_dir: Path, ring: LogRing) -> None:
        super().__init__()
        self.budget_service = BudgetService(
            BudgetConfig(),
            lambda: READINGS,
            store=PreferenceStore(state_dir),
            preferences=OwnerPreferences(departures=()),
            monitor=DeviceMonitor(temperature=lambda: 50.0),
        )
        board = PageBoard()
        car = HotPath(VehicleState(), AdmissionPolicy(PolicyConfig()), board)
        self.daemon = DaemonFacade(
            car, self.budget_service, board, StopWatch(car, board, STOP_WAIT_S), ring
        )
        self.ring = ring

    def preferences(self) -> dict[str, Any]:
        return dict(self.daemon.preferences())

    async def set_preference(self, name: str, value: str) -> Any:
        return await self.daemon.set_preference(name, value)

    def add_curtailment(self, request_json: str) -> dict[str, Any]:
        return dict(self.daemon.add_curtailment(request_json))

    async def pause(self, until_unix: float) -> float:
        return await self.daemon.pause(until_unix)

    async def unpause(self) -> bool:
        return await self.daemon.unpause()

    def log_lines(self, limit: int) -> Sequence[str]:
        return self.daemon.log_lines(limit)

    def log_serial(self) -> int:
        return self.daemon.log_serial()


@contextlib.contextmanager
def logging_into(ring: LogRing) -> Iterator[LogRing]:
    """Attach `ring` to the root logger (INFO) for the duration; as the daemon does."""
    root = logging.getLogger()
    level = root.level
    root.addHandler(ring)
    root.setLevel(logging.INFO)
    try:
        yield ring
    finally:
        root.removeHandler(ring)
        root.setLevel(level)


async def call(bus: str, address: Any, member: str, sig: str | None, *body: Any) -> Any:
    """One method call to `address` (a jeepney ``DBusAddress``) on `bus`; the raw reply."""
    from jeepney import new_method_call
    from jeepney.io.trio import open_dbus_router

    async with open_dbus_router(bus) as router:
        with trio.fail_after(20):
            return await router.send_and_get_reply(new_method_call(address, member, sig, body))


async def serve(bus: str, state_dir: Path) -> None:
    with logging_into(LogRing()) as ring:
        facade = RealPartsFacade(state_dir, ring)
        async with trio.open_nursery() as nursery:
            await nursery.start(ApiService(facade, bus, poll_s=0.1).run)
            print("ready", flush=True)
            stdin = trio.lowlevel.FdStream(0)
            while await stdin.receive_some():
                pass
            nursery.cancel_scope.cancel()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--bus", required=True)
    parser.add_argument("--state", type=Path, required=True)
    args = parser.parse_args()
    setup_logging("info")
    trio.run(serve, args.bus, args.state)


if __name__ == "__main__":
    main()
