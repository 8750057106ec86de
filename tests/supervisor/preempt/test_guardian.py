"""The guardian process on a real CAN bus: it stops the workers while the daemon cannot run.

The test process plays the daemon: a real `GuardianLink` starts a real guardian, which reads a
real udp_multicast bus (loopback, hop limit 0) fed by the reference car in another process,
and guards one real "worker" process (a busy Python loop) through its stop page. The test
then holds its own GIL in one long C call, as a multi-MiB copy does in the daemon, while the
door opens: the page must be written, the worker frozen and confirmed, during the hold.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass

import pytest
import trio

from sandbox import freeze
from sandbox.board import PageBoard
from sandbox.stop_page import StopLevel, StopPage, StopReason
from supervisor.bench import signal_sender
from supervisor.bench.multicast_port import reserve_multicast_port
from supervisor.bench.reference_car import REFERENCE_DBC, REFERENCE_MAPPING
from supervisor.config.daemon_config import DaemonConfig
from supervisor.config.schema import Config
from supervisor.policy import PolicyConfig
from supervisor.preempt.guardian.link import GuardianLink
from supervisor.vehicle.config import CanConfig, VehicleConfig
from uplink.testing import wait_until

GROUP = "239.74.163.4"

READY_S = 8.0

pytestmark = [pytest.mark.slow, pytest.mark.timeout(60)]


@dataclass
class Rig:
    port: int
    board: PageBoard
    link: GuardianLink
    page: StopPage
    worker: subprocess.Popen[bytes]

    def car(self, open_ms: float, gap_ms: float) -> subprocess.Popen[str]:
        """The reference car: parked and closed, the driver door open for `open_ms` every
        `gap_ms` (five times: a car that ends goes stale, a stop of its own; the test kills it
        when done). Prints each opening's send time."""
        return subprocess.Popen(
            signal_sender.command(GROUP, self.port, 5, 7, open_ms, (gap_ms, gap_ms)),
            stdout=subprocess.PIPE,
            text=True,
        )


@pytest.fixture
async def rig(tmp_path: object) -> AsyncIterator[Rig]:
    port = reserve_multicast_port()
    config = Config(
        daemon=DaemonConfig(realtime_priority=10),
        vehicle=VehicleConfig(
            source="can",
            can=CanConfig(
                interface="udp_multicast",
                channel=GROUP,
                dbc=REFERENCE_DBC,
                mapping=REFERENCE_MAPPING,
                port=port,
            ),
        ),
        policy=PolicyConfig(settle_s=0.0),
    )
    board, page = PageBoard(), StopPage.create("worker")
    # A short ready deadline: a guardian that is ready must not be held to it afterwards.
    link = GuardianLink(config, board, board.resync_nowait, ready_timeout_s=READY_S)
    worker = subprocess.Popen([sys.executable, "-c", "while True: pass"])  # noqa: ASYNC220
    try:
        async with trio.open_nursery() as nursery:
            await nursery.start(link.run)
            with board.register(page):
                board.note_pid(page, worker.pid, True)
                page.mark_busy(True)  # a job is out to it: a hard stop freezes it
                yield Rig(port, board, link, page, worker)
            nursery.cancel_scope.cancel()
    finally:
        worker.kill()
        worker.wait()
        page.close()


def thread_scheduling(pid: int) -> dict[int, tuple[int, int]]:
    """Each thread of `pid`: (policy, real-time priority), from /proc."""
    found = {}
    for tid in os.listdir(f"/proc/{pid}/task"):
        with open(f"/proc/{pid}/task/{tid}/stat", "rb") as f:
            fields = f.read().rsplit(b")", 1)[1].split()
        found[int(tid)] = (int(fields[38]), int(fields[37]))  # stat fields 41 and 40
    return found


def realtime_permitted() -> bool:
    try:
        os.sched_setscheduler(0, os.SCHED_FIFO, os.sched_param(1))
    except OSError:
        return False
    os.sched_setscheduler(0, os.SCHED_OTHER, os.sched_param(0))
    return True


def stop_car(car: subprocess.Popen[str]) -> None:
    car.kill()
    car.wait()
    if car.stdout is not None:
        car.stdout.close()


async def test_the_guardian_stops_and_freezes_while_this_process_holds_its_gil(rig: Rig) -> None:
    car = rig.car(open_ms=300, gap_ms=3000)
    assert car.stdout is not None
    try:
        # The guardian holds from its start (unknown is unsafe) until the car is seen safe.
        assert rig.link.holding()
        await wait_until(lambda: not rig.link.holding(), 20.0, "the guardian to see the car parked")
        rig.board.resync_nowait()  # as the daemon does on "free"
        assert rig.page.level() == StopLevel.RUN
        numbers = [random.random() for _ in range(1_500_000)]
        started = time.monotonic_ns()
        while time.monotonic_ns() - started < 6e9 and rig.page.level() != StopLevel.HARD:
            sorted(numbers)  # one C call holding the GIL for about a second
        sorted(numbers)  # and once more: the freeze is confirmed meanwhile too
        held_until = time.monotonic_ns()
        snap = rig.page.snapshot()
        # The opening whose stop the page shows, the last one before it: on a loaded machine
        # the guardian can take longer to start than the car to its first opening (seen while
        # it still held), and the next opening can come before the hold ends and write again.
        sent_ns = 0
        while (line := car.stdout.readline()) and int(line.split()[0]) <= snap.requested_ns:
            sent_ns = int(line.split()[0])
        assert snap.level == StopLevel.HARD
        assert started <= sent_ns <= snap.requested_ns <= held_until
        assert (snap.requested_ns - sent_ns) / 1e6 < 20, "the guardian wrote the stop late"
        # Frozen and confirmed by the guardian during the hold: every thread stopped, acknowledged.
        assert freeze.all_threads_stopped(rig.worker.pid)
        assert snap.acknowledged and snap.ack_ns <= held_until
        # Every thread of the guardian is real-time (also those started after its start, which
        # SCHED_RESET_ON_FORK would leave normal): none can hold its GIL while preempted.
        if realtime_permitted():
            guardian = thread_scheduling(rig.link.pid or 0)
            assert len(guardian) >= 4  # main, the stop thread, the confirmer, the teller, ...
            assert all(policy == os.SCHED_FIFO for policy, _ in guardian.values()), guardian
        # The door closes: the guardian lets go; the daemon's resync releases and continues it.
        await wait_until(lambda: not rig.link.holding(), 20.0, "the guardian to let go")
        await wait_until(lambda: rig.page.level() == StopLevel.RUN, 20.0, "the resync")
        if realtime_permitted():  # let go: back to normal before anyone continues it
            assert set(thread_scheduling(rig.worker.pid).values()) == {(os.SCHED_OTHER, 0)}
        rig.worker.send_signal(signal.SIGCONT)  # what the pool's after-release hook does
        await wait_until(lambda: not freeze.all_threads_stopped(rig.worker.pid), 20.0, "it to run")
    finally:
        stop_car(car)


async def test_a_dead_guardian_stops_the_workers_and_is_replaced(rig: Rig) -> None:
    car = rig.car(open_ms=1, gap_ms=20000)  # parked and closed throughout
    try:
        await wait_until(lambda: not rig.link.holding(), 20.0, "the guardian to see the car parked")
        rig.board.resync_nowait()
        assert rig.page.level() == StopLevel.RUN
        first = rig.link.pid
        assert first is not None
        os.kill(first, signal.SIGKILL)
        await wait_until(lambda: rig.page.level() == StopLevel.HARD, 20.0, "the fail-safe stop")
        last = rig.board.last
        assert last is not None and last.reason == StopReason.VEHICLE
        assert rig.link.holding()  # nothing is released until a new guardian sees the car
        rig.board.release_all_nowait()
        assert rig.page.level() == StopLevel.HARD
        await wait_until(
            lambda: rig.link.starts == 2 and not rig.link.holding(), 20.0, "a new guardian"
        )
        assert rig.link.pid not in (None, first)
    finally:
        stop_car(car)


async def test_a_ready_guardian_is_not_ended_by_its_start_deadline(rig: Rig) -> None:
    car = rig.car(open_ms=1, gap_ms=60000)  # parked and closed throughout
    try:
        await wait_until(lambda: not rig.link.holding(), 20.0, "the guardian to see the car parked")
        first = rig.link.pid
        await trio.sleep(READY_S)  # past the deadline the guardian had to become ready in
        assert rig.link.pid == first and rig.link.starts == 1
        assert not rig.link.holding() and rig.page.level() != StopLevel.HARD
    finally:
        stop_car(car)
