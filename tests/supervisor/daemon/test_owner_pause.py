"""The owner's pause through the real `DaemonFacade` over a real `HotPath`: a pause is a soft
stop that ``why`` explains, Unpause lifts it, and a timed pause ends by itself (trio's
`MockClock`, with the pause's wall clock on it)."""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from pathlib import Path

import pytest
import trio
import trio.testing

from sandbox.board import PageBoard
from supervisor.daemon.facade import DaemonFacade
from supervisor.daemon.log_ring import LogRing
from supervisor.daemon.owner_pause import OwnerPause
from supervisor.daemon.stop_watch import StopWatch
from supervisor.hotpath import HotPath
from supervisor.policy import AdmissionPolicy, PolicyConfig
from supervisor.vehicle.state import VehicleState
from thermal.config import BudgetConfig
from thermal.inputs import Temperatures, VehicleReadings
from thermal.preferences import OwnerPreferences
from thermal.sensors import DeviceMonitor
from thermal.service import BudgetService

READINGS = VehicleReadings(80.0, 75.0, True, True, 7.2, Temperatures(25.0, 22.0, 21.0, 15.0))
# The wall time the mock clock's zero stands for.
EPOCH = 1_800_000_000.0


def wall() -> float:
    """A wall clock on trio's (mock) clock."""
    return EPOCH + trio.current_time()


@pytest.fixture
def facade() -> DaemonFacade:
    budget = BudgetService(
        BudgetConfig(),
        lambda: READINGS,
        preferences=OwnerPreferences(departures=()),
        monitor=DeviceMonitor(temperature=lambda: 50.0),
    )
    board = PageBoard()
    car = HotPath(VehicleState(), AdmissionPolicy(PolicyConfig()), board)
    daemon = DaemonFacade(car, budget, board, StopWatch(car, board, 0.1), LogRing())
    daemon.owner_pause = OwnerPause(car.set_soft_stop, wall=wall)
    return daemon


def pause_reasons(facade: DaemonFacade) -> list[str]:
    return [r for r in facade.state().reasons if r.startswith("paused by the owner")]


async def test_a_pause_until_resumed_holds_until_unpause(
    facade: DaemonFacade, autojump_clock: trio.testing.MockClock
) -> None:
    assert facade.state().paused_until is None
    assert await facade.pause(0) == 0
    assert pause_reasons(facade) == ["paused by the owner until resumed"]
    assert facade.state().paused_until == 0
    assert "paused by the owner until resumed" in facade.state().explanation
    await trio.sleep(10 * 24 * 3600)
    assert facade.state().paused_until == 0
    assert await facade.unpause() is True
    assert pause_reasons(facade) == []
    assert facade.state().paused_until is None
    assert await facade.unpause() is False


async def test_a_timed_pause_ends_by_itself(
    facade: DaemonFacade, autojump_clock: trio.testing.MockClock
) -> None:
    until = wall() + 3600
    await facade.pause(until)
    at = time.strftime("%H:%M", time.localtime(until))
    assert pause_reasons(facade) == [f"paused by the owner until {at}"]
    assert facade.state().paused_until == until
    await trio.sleep(3599)
    assert facade.state().paused_until == until
    await trio.sleep(2)
    # The timer lifted it (the decision too, not only the reading of the state).
    assert [r.text for r in facade.car.decision.reasons if "paused" in r.text] == []
    assert facade.state().paused_until is None


async def test_a_later_pause_replaces_the_timed_one(
    facade: DaemonFacade, autojump_clock: trio.testing.MockClock
) -> None:
    await facade.pause(wall() + 60)
    await facade.pause(0)
    await trio.sleep(120)
    assert facade.state().paused_until == 0
    far = wall() + 3 * 24 * 3600
    await facade.pause(far)
    assert pause_reasons(facade) == [
        "paused by the owner until " + time.strftime("%Y-%m-%d %H:%M", time.localtime(far))
    ]
    assert await facade.unpause() is True
    await trio.sleep(4 * 24 * 3600)  # the cancelled timer lifts nothing later
    assert facade.state().paused_until is None


@pytest.mark.parametrize("until", [-1.0, math.nan, math.inf, EPOCH - 5])
async def test_a_time_not_in_the_future_is_refused(
    facade: DaemonFacade, autojump_clock: trio.testing.MockClock, until: float
) -> None:
    with pytest.raises(ValueError, match="until_unix"):
        await facade.pause(until)
    assert facade.state().paused_until is None
    assert pause_reasons(facade) == []


async def test_a_kept_pause_is_taken_up_after_a_restart(
    tmp_path: Path, autojump_clock: trio.testing.MockClock
) -> None:
    path = tmp_path / "owner-pause.json"
    stops: dict[str, list[str]] = {}

    def set_soft_stop(source: str, reasons: Sequence[str]) -> None:
        stops[source] = list(reasons)

    before = OwnerPause(set_soft_stop, wall=wall, path=path)
    assert before.restore() is None  # no file yet
    until = wall() + 600
    before.pause(until)
    assert path.exists()

    stops.clear()  # the restart: a fresh hot path, a fresh pause over the same file
    after = OwnerPause(set_soft_stop, wall=wall, path=path)
    assert after.restore() == until
    assert stops["pause"][0].startswith("paused by the owner until ")
    await trio.sleep(601)
    assert after.until is None and stops["pause"] == [] and not path.exists()

    after.pause(0)
    assert OwnerPause(set_soft_stop, wall=wall, path=path).restore() == 0
    after.lift()
    assert not path.exists()


async def test_a_kept_pause_whose_time_passed_or_that_makes_no_sense_is_dropped(
    tmp_path: Path, autojump_clock: trio.testing.MockClock
) -> None:
    path = tmp_path / "owner-pause.json"
    stops: dict[str, list[str]] = {}

    def set_soft_stop(source: str, reasons: Sequence[str]) -> None:
        stops[source] = list(reasons)

    for text in ['{"until_unix": %f}' % (EPOCH - 60), "not json", '{"until_unix": "x"}']:
        path.write_text(text)
        assert OwnerPause(set_soft_stop, wall=wall, path=path).restore() is None
        assert stops == {} and not path.exists()
