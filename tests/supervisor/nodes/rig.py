"""A hot path with a real stop page on the pool's board, for the node kinds' source tests."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass

import trio

from sandbox.board import PageBoard
from sandbox.stop_page import StopLevel, StopPage
from supervisor.hotpath import HotPath
from supervisor.policy import AdmissionPolicy, Phase, PolicyConfig
from supervisor.policy.rules import NodeRules
from supervisor.policy_clock import PolicyClock
from supervisor.vehicle.state import VehicleState


@dataclass
class Rig:
    hotpath: HotPath
    page: StopPage

    async def wait_phase(self, phase: Phase, timeout: float = 5.0) -> None:
        with trio.fail_after(timeout):
            while self.hotpath.decision.phase != phase:
                await trio.sleep(0.01)

    async def serving(self) -> None:
        """Eligible, then a job runs (the pool's page released)."""
        await self.wait_phase(Phase.ELIGIBLE)
        self.hotpath.set_busy(True)
        await self.wait_phase(Phase.SERVING)
        assert self.page.level() == StopLevel.RUN

    async def stop_after(self, act: Callable[[], None], timeout: float = 5.0) -> float:
        """Run `act` (which changes the device) and wait for the hard stop on the page;
        returns the milliseconds from `act`'s return to the page seen stopped."""
        act()
        acted = time.monotonic()
        with trio.fail_after(timeout):
            while self.page.level() != StopLevel.HARD:
                await trio.sleep(0.0005)
        return (time.monotonic() - acted) * 1000

    async def wait_value(self, path: str, value: object, timeout: float = 5.0) -> None:
        with trio.fail_after(timeout):
            while self.hotpath.state.value(path, self.hotpath.clock()) != value:
                await trio.sleep(0.01)

    def reasons(self) -> list[str]:
        return [r.text for r in self.hotpath.decision.reasons]


@asynccontextmanager
async def rig_for(rules: NodeRules, source_of: Callable[[HotPath], object]) -> AsyncIterator[Rig]:
    board = PageBoard()
    page = StopPage.create("test")
    hotpath = HotPath(VehicleState(), AdmissionPolicy(PolicyConfig(settle_s=0.0), rules), board)
    source = source_of(hotpath)
    with board.register(page):
        async with trio.open_nursery() as nursery:
            await nursery.start(source.run)  # type: ignore[attr-defined]
            await nursery.start(PolicyClock(hotpath).run)
            yield Rig(hotpath, page)
            nursery.cancel_scope.cancel()
    page.close()
