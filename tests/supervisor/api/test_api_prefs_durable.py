"""SetPreference through the daemon's facade: written off the loop, durable before the call
returns, and applied in the order the calls came (a real BudgetService and PreferenceStore)."""

from __future__ import annotations

import os
import threading
from pathlib import Path

import pytest
import trio

from sandbox.board import PageBoard
from supervisor.api.facade import PreferenceError
from supervisor.daemon.facade import DaemonFacade
from supervisor.daemon.log_ring import LogRing
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


def _facade(state_dir: Path) -> tuple[DaemonFacade, BudgetService]:
    budget = BudgetService(
        BudgetConfig(),
        lambda: READINGS,
        store=PreferenceStore(state_dir),
        preferences=OwnerPreferences(departures=()),
        monitor=DeviceMonitor(temperature=lambda: 50.0),
    )
    board = PageBoard()
    car = HotPath(VehicleState(), AdmissionPolicy(PolicyConfig()), board)
    return DaemonFacade(car, budget, board, StopWatch(car, board, 0.1), LogRing()), budget


async def test_a_preference_is_durable_when_the_call_returns(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    facade, budget = _facade(tmp_path)
    loop_thread = threading.get_ident()
    fsync_threads: list[int] = []
    real_fsync = os.fsync

    def recording_fsync(fd: int) -> None:
        fsync_threads.append(threading.get_ident())
        real_fsync(fd)

    monkeypatch.setattr(os, "fsync", recording_fsync)
    assert await facade.set_preference("charge_floor_percent", "55") == 55.0
    # On disk (a fresh reader sees it), applied, and written once, off the loop's thread.
    assert PreferenceStore(tmp_path).load().charge_floor_percent == 55.0
    assert budget.preferences.charge_floor_percent == 55.0
    assert len(fsync_threads) == 2 and loop_thread not in fsync_threads


async def test_preferences_are_applied_in_call_order(tmp_path: Path) -> None:
    facade, budget = _facade(tmp_path)
    values = ["41", "42", "43", "44", "45"]
    done: list[str] = []

    async def set_one(value: str) -> None:
        await facade.set_preference("charge_floor_percent", value)
        done.append(value)

    # The test holds the queue until every call waits in it, in the order started.
    async with trio.open_nursery() as nursery, facade._preference_lock:
        for i, value in enumerate(values):
            nursery.start_soon(set_one, value)
            with trio.fail_after(5):
                while facade._preference_lock.statistics().tasks_waiting < i + 1:
                    await trio.sleep(0.001)
    assert done == values
    assert budget.preferences.charge_floor_percent == 45.0
    assert PreferenceStore(tmp_path).load().charge_floor_percent == 45.0


async def test_a_refused_value_writes_nothing(tmp_path: Path) -> None:
    facade, budget = _facade(tmp_path)
    with pytest.raises(PreferenceError) as info:
        await facade.set_preference("charge_floor_percent", "95")
    assert info.value.argument == "value"
    assert not (tmp_path / "preferences.json").exists()
    assert budget.preferences.charge_floor_percent == OwnerPreferences().charge_floor_percent
