"""The stop path on its own thread: stops are decided and written while the trio loop is blocked.

Each test blocks the trio loop on purpose (``time.sleep`` inside a trio task, as a long CBOR
decode or a ledger scan would) and checks that the stop page was written during the block, on
the stop thread, from a real udp_multicast CAN bus fed by another thread.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass

import can
import pytest
import trio

from sandbox.board import PageBoard
from sandbox.stop_page import StopLevel, StopPage
from supervisor.bench.multicast_port import reserve_multicast_port
from supervisor.bench.reference_car import REFERENCE_DBC, REFERENCE_MAPPING, ReferenceCar
from supervisor.hotpath import HotPath
from supervisor.policy import AdmissionPolicy, Decision, Phase, PolicyConfig
from supervisor.preempt.stop_thread import StopThreadControl, StopThreads
from supervisor.vehicle.can_decoder import FrameDecoder
from supervisor.vehicle.can_source import LOOPBACK_HOP_LIMIT, CanSource, open_bus
from supervisor.vehicle.config import CanConfig
from supervisor.vehicle.state import SignalUpdate, VehicleState
from tests.supervisor.parked import PARKED

GROUP = "239.74.163.3"

pytestmark = pytest.mark.timeout(30)


@dataclass
class Rig:
    car: ReferenceCar
    tx: can.BusABC
    hotpath: HotPath
    page: StopPage
    seen: list[tuple[Decision, int]]

    def send(self, *names: str) -> int:
        """Send frames; returns the monotonic ns just before the last send."""
        sent = 0
        for name in names or (
            "PM_BodyStatus",
            "PM_DriveStatus",
            "PM_BatteryStatus",
            "PM_ChargeStatus",
            "PM_ThermalStatus",
        ):
            frame_id, data = self.car.frame(name)
            sent = time.monotonic_ns()
            self.tx.send(can.Message(arbitration_id=frame_id, data=data, is_extended_id=False))
        return sent

    async def wait_admitted(self) -> None:
        with trio.fail_after(5):
            while self.hotpath.decision.phase != Phase.ELIGIBLE:
                self.send()
                await trio.sleep(0.02)


@pytest.fixture
async def rig() -> AsyncIterator[Rig]:
    port = reserve_multicast_port()
    config = CanConfig(
        interface="udp_multicast",
        channel=GROUP,
        dbc=REFERENCE_DBC,
        mapping=REFERENCE_MAPPING,
        port=port,
    )
    decoder = FrameDecoder.load(REFERENCE_DBC, REFERENCE_MAPPING)
    board, page = PageBoard(), StopPage.create("test")
    hotpath = HotPath(VehicleState(), AdmissionPolicy(PolicyConfig(settle_s=0.0)), board)
    seen: list[tuple[Decision, int]] = []
    hotpath.add_listener(lambda d: seen.append((d, threading.get_ident())))
    source = CanSource(
        config,
        decoder,
        hotpath,
        bus_factory=lambda: open_bus(config, decoder.frame_ids),
        thread=StopThreads(hotpath),
    )
    tx = can.Bus(interface="udp_multicast", channel=GROUP, port=port, hop_limit=LOOPBACK_HOP_LIMIT)
    try:
        with board.register(page):
            async with trio.open_nursery() as nursery:
                await nursery.start(source.run)
                assert hotpath.threaded
                yield Rig(ReferenceCar(), tx, hotpath, page, seen)
                nursery.cancel_scope.cancel()
        assert not hotpath.threaded
    finally:
        tx.shutdown()
        page.close()


async def test_a_door_frame_stops_work_while_the_loop_is_blocked(rig: Rig) -> None:
    await rig.wait_admitted()
    sent: list[int] = []

    def door_opens() -> None:
        time.sleep(0.05)
        rig.car.body["PM_doorFrontLeft"] = "OPEN"
        sent.append(rig.send("PM_BodyStatus"))

    threading.Thread(target=door_opens).start()
    time.sleep(0.3)  # noqa: ASYNC251  (the point: the trio loop is blocked)
    blocked_until = time.monotonic_ns()
    snap = rig.page.snapshot()
    assert snap.level == StopLevel.HARD
    # Written during the block, within milliseconds of the frame.
    assert sent and sent[0] <= snap.requested_ns < blocked_until
    assert (snap.requested_ns - sent[0]) / 1e6 < 20
    # The listeners hear of it on the trio thread, once the loop runs again.
    await trio.sleep(0.01)
    hard = [(d, tid) for d, tid in rig.seen if d.hard_stop_edge]
    assert hard and hard[-1][1] == threading.get_ident()
    assert "driver door open" in hard[-1][0].explain()


async def test_a_silent_bus_is_a_stale_stop_decided_on_the_thread(rig: Rig) -> None:
    await rig.wait_admitted()
    last_sent = rig.send()
    time.sleep(0.8)  # noqa: ASYNC251  gear and speed go stale after 0.5 s; the loop is blocked
    blocked_until = time.monotonic_ns()
    snap = rig.page.snapshot()
    assert snap.level == StopLevel.HARD and snap.requested_ns < blocked_until
    stale_after_s = (snap.requested_ns - last_sent) / 1e9
    assert 0.45 <= stale_after_s <= 0.6
    assert any(r.code == "stale" for r in rig.hotpath.decision.reasons)


async def test_frames_that_came_while_the_thread_stalled_are_read_before_staleness(
    rig: Rig,
) -> None:
    """The stop thread does not run past a signal's maximum age (a stalled host, a GIL wait)
    while the car keeps sending: the frames it finds queued are read first, and nothing is
    stale. The stall is a call handed to the thread that blocks it."""
    await rig.wait_admitted()
    hard_stops = rig.hotpath.statistics().hard_stops
    stalled, resume = threading.Event(), threading.Event()

    def stall() -> None:
        stalled.set()
        resume.wait(10)

    rig.hotpath.handoff.call_soon(stall)
    await trio.to_thread.run_sync(stalled.wait, 10)
    expiry = rig.hotpath.state.next_expiry(rig.hotpath.clock())
    assert expiry is not None
    # Past the maximum age of gear and speed (0.5 s), then the car's next frames, then the
    # thread runs again: its deadline has passed and its socket has frames.
    await trio.sleep(expiry - rig.hotpath.clock() + 0.05)
    rig.send()
    before = rig.hotpath.statistics()
    resume.set()
    with trio.fail_after(5):  # the frames are read, and the deadline's tick decides
        while (now := rig.hotpath.statistics()).readings == before.readings or (
            now.evaluations == before.evaluations
        ):
            await trio.sleep(0.005)
    assert rig.hotpath.statistics().hard_stops == hard_stops
    assert rig.page.level() == StopLevel.RUN
    assert not any(r.code == "stale" for r in rig.hotpath.decision.reasons)


async def test_input_that_never_runs_dry_does_not_put_a_stale_stop_off() -> None:
    """A source that is always readable (a flooded bus, a descriptor stuck readable) while
    no reading refreshes the car: the deadline is put off for one read, never more."""
    from supervisor.preempt.stop_thread import run_stop_thread

    board, page = PageBoard(), StopPage.create("flooded")
    board.add(page)
    state = VehicleState()
    for path in PARKED:
        state.declare(path, 0.2)
    hotpath = HotPath(state, AdmissionPolicy(PolicyConfig(settle_s=0.0)), board)
    readable, writer = os.pipe()
    os.write(writer, b"x")  # never read: every poll finds it ready

    def body(control: StopThreadControl) -> None:
        hotpath.feed(
            [SignalUpdate(path, value, time.monotonic()) for path, value in PARKED.items()]
        )
        control.started()
        while not control.closing:
            control.wait((readable,), 0.05)

    try:
        async with trio.open_nursery() as nursery:
            await nursery.start(run_stop_thread, hotpath, body)
            fed_at = time.monotonic()
            with trio.fail_after(3):
                while page.level() != StopLevel.HARD:
                    await trio.sleep(0.005)
            assert time.monotonic() - fed_at < 0.2 + 0.3
            assert any(r.code == "stale" for r in hotpath.decision.reasons)
            nursery.cancel_scope.cancel()
    finally:
        os.close(readable)
        os.close(writer)
        page.close()


async def test_loop_changes_take_effect_at_once_on_the_stop_thread(rig: Rig) -> None:
    await rig.wait_admitted()
    decision = rig.hotpath.set_soft_stop("owner", ["paused by the owner"])
    assert not decision.accepting and rig.hotpath.decision is decision
    assert "paused by the owner" in decision.explain()
    # Lifting it, and a job starting, through the same one-call form.
    assert rig.hotpath.set_soft_stop("owner", []).accepting
    assert rig.hotpath.set_busy(True).phase == Phase.SERVING


def _bare_hotpath() -> tuple[HotPath, PageBoard, StopPage]:
    board, page = PageBoard(), StopPage.create("bare")
    board.add(page)
    return HotPath(VehicleState(), AdmissionPolicy(PolicyConfig(settle_s=0.0)), board), board, page


async def test_a_stop_thread_that_dies_stops_the_workers() -> None:
    """A body that raises (a driver bug): nobody reads the car any more, so work stops."""
    from supervisor.preempt.stop_thread import run_stop_thread

    hotpath, board, page = _bare_hotpath()
    go = threading.Event()

    def body(control) -> None:
        control.started()
        go.wait(5)
        raise OSError("the CAN driver went away")

    try:

        async def serve_until_the_body_fails() -> None:
            async with trio.open_nursery() as nursery:
                await nursery.start(run_stop_thread, hotpath, body)
                assert page.level() == StopLevel.RUN
                go.set()

        with trio.fail_after(10), pytest.raises(ExceptionGroup) as raised:
            await serve_until_the_body_fails()
        assert raised.group_contains(OSError, match="went away")
        assert page.level() == StopLevel.HARD
        assert board.last is not None and board.last.level == StopLevel.HARD
    finally:
        page.close()


async def test_a_wedged_stop_thread_is_noticed_by_the_policy_clock() -> None:
    """A body stuck outside its wait (a blocking driver call): the loop's policy clock stops
    the workers once the thread has not come round for STALL_S."""
    from supervisor.policy_clock import STALL_S, PolicyClock
    from supervisor.preempt.stop_thread import run_stop_thread

    hotpath, _board, page = _bare_hotpath()
    release = threading.Event()

    def body(control) -> None:
        control.started()
        control.wait((), 0.05)  # one round: the heartbeat is fresh
        release.wait(10)  # then wedged, never waiting on the control again
        while not control.closing:
            control.wait((), 0.05)

    try:
        async with trio.open_nursery() as nursery:
            await nursery.start(run_stop_thread, hotpath, body)
            await nursery.start(PolicyClock(hotpath).run)
            started = time.monotonic()
            with trio.fail_after(STALL_S + 3):
                while page.level() != StopLevel.HARD:
                    await trio.sleep(0.02)
            assert time.monotonic() - started >= STALL_S - 0.3
            release.set()
            nursery.cancel_scope.cancel()
    finally:
        release.set()
        page.close()
