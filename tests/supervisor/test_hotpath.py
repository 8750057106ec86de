"""The hot path: state, policy and stop page in one synchronous call."""

from __future__ import annotations

import subprocess
import sys
import time

from sandbox.board import PageBoard
from sandbox.stop_page import StopLevel, StopPage, StopReason
from supervisor.hotpath import HotPath
from supervisor.policy import AdmissionPolicy, Decision, Phase, PolicyConfig
from supervisor.vehicle import vss
from supervisor.vehicle.state import SignalUpdate, VehicleState
from tests.supervisor.parked import PARKED


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def admitted_hotpath() -> tuple[HotPath, StopPage, Clock, list[Decision]]:
    clock = Clock()
    board = PageBoard()
    page = StopPage.create("test")
    board.add(page)
    state = VehicleState()
    for path in PARKED:
        state.declare(path, 1.0)
    hotpath = HotPath(state, AdmissionPolicy(PolicyConfig(settle_s=0.0)), board, clock)
    seen: list[Decision] = []
    hotpath.add_listener(seen.append)
    hotpath.feed([SignalUpdate(p, v, 0.0) for p, v in PARKED.items()])
    assert hotpath.decision.phase == Phase.ELIGIBLE
    return hotpath, page, clock, seen


def test_the_flag_is_written_before_feed_returns() -> None:
    hotpath, page, clock, seen = admitted_hotpath()
    clock.now = 0.1
    received = time.monotonic_ns()
    decision = hotpath.feed([SignalUpdate(vss.DOORS[0], True, 0.1)], received)
    snap = page.snapshot()
    assert decision.hard_stop_edge
    assert (snap.level, snap.reason, snap.generation) == (StopLevel.HARD, StopReason.VEHICLE, 1)
    assert snap.requested_ns >= received
    stats = hotpath.statistics()
    assert stats.hard_stops == 1
    assert stats.last_stop_latency_ms == (snap.requested_ns - received) / 1e6
    assert seen[-1] is decision


def test_refreshes_do_not_reevaluate_and_changes_notify_once() -> None:
    hotpath, _page, clock, seen = admitted_hotpath()
    before = hotpath.statistics().evaluations
    for i in range(10):
        clock.now = 0.01 * i
        hotpath.feed([SignalUpdate(vss.SPEED, 0.0, clock.now)])
    assert hotpath.statistics().evaluations == before
    assert len(seen) == 1


def test_tick_stops_on_staleness_without_a_reading() -> None:
    hotpath, page, clock, _seen = admitted_hotpath()
    clock.now = 1.01
    decision = hotpath.tick()
    assert decision.hard_stop_edge and page.level() == StopLevel.HARD


def test_a_separate_process_sees_the_flag_and_acknowledges() -> None:
    page = StopPage.create("test")
    proc = subprocess.Popen(
        [sys.executable, "-m", "supervisor.preempt.reader", str(page.fd)], pass_fds=(page.fd,)
    )
    try:
        # The reader polls once it beats (it has read the generation to answer from by then).
        deadline = time.monotonic() + 10
        while page.snapshot().heartbeat == 0 and time.monotonic() < deadline:
            time.sleep(0.001)
        generation = page.request_stop(StopLevel.HARD, StopReason.TEST)
        deadline = time.monotonic() + 5
        while not page.snapshot().acknowledged and time.monotonic() < deadline:
            time.sleep(0.001)
        snap = page.snapshot()
        assert snap.ack_generation == generation
        assert snap.ack_ns >= snap.requested_ns
        assert snap.heartbeat > 0
    finally:
        proc.kill()
        proc.wait()
        page.close()


def test_pages_are_released_only_once_the_car_is_admitted_again() -> None:
    hotpath, page, clock, _seen = admitted_hotpath()
    hotpath.policy.config = PolicyConfig(settle_s=1.0)
    clock.now = 0.1
    hotpath.feed([SignalUpdate(vss.DOORS[0], True, 0.1)])
    clock.now = 0.2
    hotpath.feed([SignalUpdate(vss.DOORS[0], False, 0.2)])
    assert page.level() == StopLevel.HARD  # settling: still stopped
    hotpath.set_soft_stop("owner", ["paused by the owner"])
    for now in (0.9, 1.3):  # settled, and every signal fresh
        clock.now = now
        hotpath.feed([SignalUpdate(p, v, now) for p, v in PARKED.items()])
    assert page.level() == StopLevel.HARD  # a soft stop keeps them stopped
    decision = hotpath.set_soft_stop("owner", [])
    assert decision.accepting and page.level() == StopLevel.RUN
