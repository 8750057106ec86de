"""Nothing heavy on the loop: with the API polled hard by another process (large JSON
properties and status) and preferences written to disk all the while, no task step of the
daemon's loop computes for longer than `STEP_CPU_BOUND_MS`.

The bound is on the loop thread's CPU time per step (`LoopMonitor` with `time.thread_time`):
that is the work the loop itself does, which this change moved off it, and it does not depend
on how loaded the shared development machine is (2 cores, other suites beside this one: its
wall-clock stalls of 100-200 ms come from the OS, not from us). On the car, whose daemon's
monitor measures wall time, steps stay well under 2 ms. The work this test puts on the API is
sized to fail the bound if it ran on the loop: encoding the properties alone takes ~50 ms of
CPU here (`test_the_scenario_is_heavy_enough_to_fail_on_the_loop`). The wall-clock longest step
and lag are measured beside it and printed, not asserted.
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest
import trio
from parkmesh_fake_daemon import FakeFacade

from supervisor.api.properties import property_values
from supervisor.api.service import ApiService
from supervisor.daemon.loop_monitor import LoopMonitor
from thermal.preferences import OwnerPreferences
from thermal.prefstore import PreferenceStore

pytestmark = pytest.mark.timeout(120)

STEP_CPU_BOUND_MS = 10.0
WORKERS = 2000  # rows of WorkersJson: ~400 KB of JSON per property read
POLL_S = 4.0  # how long the other process polls

POLLER = r"""
import sys, time
from jeepney import DBusAddress, new_method_call
from jeepney.io.blocking import open_dbus_connection
bus, seconds = sys.argv[1], float(sys.argv[2])
obj = DBusAddress("/org/parkmesh/Supervisor1", bus_name="org.parkmesh.Supervisor1")
calls = 0
with open_dbus_connection(bus) as conn:
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        get_all = new_method_call(obj.with_interface("org.freedesktop.DBus.Properties"),
                                  "GetAll", "s", ("org.parkmesh.Supervisor1",))
        status = new_method_call(obj.with_interface("org.parkmesh.Supervisor1"), "GetStatus")
        for msg in (get_all, status):
            reply = conn.send_and_get_reply(msg, timeout=10)
            assert reply.body, reply
            calls += 1
print(calls)
"""


def _big_facade() -> FakeFacade:
    facade = FakeFacade()
    facade.overrides["workers"] = [
        {
            "id": i,
            "model": "minilm-l6",
            "device": "cuda:0",
            "state": "serving",
            "confinement": "confined",
            "last_stop_ms": 4.2 + i,
            "memory_mb": 812.5,
            "restarts": 0,
            "crashes": 0,
            "jobs_ok": i,
            "jobs_failed": 0,
        }
        for i in range(WORKERS)
    ]
    return facade


def test_the_scenario_is_heavy_enough_to_fail_on_the_loop(tmp_path: Path) -> None:
    # What the service moves to threads would break the bound if it ran on the loop.
    facade = _big_facade()
    started = time.perf_counter()
    property_values(facade)
    assert (time.perf_counter() - started) * 1000 > 2 * STEP_CPU_BOUND_MS


async def test_a_busy_api_keeps_every_loop_step_short(bus_address: str, tmp_path: Path) -> None:
    facade = _big_facade()
    store = PreferenceStore(tmp_path / "state")
    saves = 0

    async def keep_saving() -> None:
        nonlocal saves
        while True:
            saves += 1
            await store.persist(OwnerPreferences(charge_floor_percent=40.0 + saves % 40))

    async with trio.open_nursery() as nursery:
        await nursery.start(ApiService(facade, bus_address, poll_s=0.05).run)
        poller = await trio.lowlevel.open_process(
            [sys.executable, "-c", POLLER, bus_address, str(POLL_S)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        # Measured from here: the daemon's start-up (imports, first connection, spawning the
        # poller) is not its steady state.
        cpu: LoopMonitor = await nursery.start(
            LoopMonitor(period_s=0.01, step_clock=time.thread_time).run
        )
        wall: LoopMonitor = await nursery.start(LoopMonitor(period_s=0.01).run)
        nursery.start_soon(keep_saving)
        with trio.fail_after(60):
            await poller.wait()
        stats, wall_stats = cpu.statistics(), wall.statistics()
        nursery.cancel_scope.cancel()
    assert poller.stdout is not None and poller.stderr is not None
    out, err = await poller.stdout.receive_some(), await poller.stderr.receive_some()
    assert poller.returncode == 0, err.decode()
    calls = int(out)
    assert calls >= 6, calls  # the API really was busy
    assert saves >= 5, saves
    assert stats.samples >= 50
    print(
        f"{calls} calls, {saves} saves: longest step {stats.longest_step_ms:.2f} ms CPU "
        f"({stats.longest_step_task}); wall: longest step {wall_stats.longest_step_ms:.2f} "
        f"ms ({wall_stats.longest_step_task}), max lag {wall_stats.max_lag_ms:.2f} ms"
    )
    assert stats.longest_step_ms < STEP_CPU_BOUND_MS, stats
