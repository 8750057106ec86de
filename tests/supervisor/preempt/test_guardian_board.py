"""The guardian's board and the daemon board's interlock, without an event loop (the frozen
workers are real child processes)."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator

from sandbox import freeze
from sandbox.board import PageBoard
from sandbox.stop_page import StopLevel, StopPage, StopReason
from supervisor.preempt.guardian.board import CONFIRM_INLINE_S, GuardianBoard
from tests.supervisor.preempt.test_guardian import realtime_permitted


class Holding:
    """A fake guardian status: `holding()` answers from a list, last answer repeated."""

    def __init__(self, *answers: bool) -> None:
        self.answers = list(answers)

    def holding(self) -> bool:
        return self.answers.pop(0) if len(self.answers) > 1 else self.answers[0]


def test_a_hard_stop_holds_first_and_writes_every_page() -> None:
    own, page = StopPage.create("own"), StopPage.create("worker")
    freed: list[bool] = []
    board = GuardianBoard(own, priority=0, on_free=lambda: freed.append(True))
    assert board.holding and own.level() == StopLevel.HARD  # until it has seen the car safe
    board.release_all_nowait()
    freed.clear()
    board.add(1, page)
    board.stop_all_nowait(StopLevel.HARD, StopReason.VEHICLE)
    assert own.level() == StopLevel.HARD and page.level() == StopLevel.HARD
    assert board.holding and board.releasable
    late = StopPage.create("late")
    board.add(2, late)  # a worker started during the hold starts stopped
    assert late.level() == StopLevel.HARD
    board.release_all_nowait()
    # It lets go, and lets nothing run: the pages are the daemon's to release.
    assert own.level() == StopLevel.RUN and freed == [True]
    assert page.level() == StopLevel.HARD and late.level() == StopLevel.HARD
    board.close()
    own.close()


def test_soft_stops_are_not_the_guardians() -> None:
    own, page = StopPage.create("own"), StopPage.create("worker")
    board = GuardianBoard(own, priority=0)
    board.release_all_nowait()
    board.add(1, page)
    board.stop_all_nowait(StopLevel.SOFT, StopReason.BUDGET)
    assert page.level() == StopLevel.RUN and not board.holding
    board.close()
    own.close()


def test_the_daemon_board_releases_nothing_while_the_guardian_holds() -> None:
    board, page = PageBoard(), StopPage.create("worker")
    guardian = Holding(True)
    board.set_interlock(guardian)
    board.add(page)
    board.stop_all_nowait(StopLevel.HARD, StopReason.VEHICLE)
    board.release_all_nowait()
    assert page.level() == StopLevel.HARD and board.held_releases == 1
    # The guardian lets go: the held release is done now.
    guardian.answers = [False]
    board.resync_nowait()
    assert page.level() == StopLevel.RUN and board.level() == StopLevel.RUN
    page.close()


def test_a_guardian_stop_during_a_release_stands() -> None:
    board, page = PageBoard(), StopPage.create("worker")
    guardian = Holding(False, True)  # not holding, then holding once the pages are written
    board.set_interlock(guardian)
    thawed: list[bool] = []
    board.add_after_release(lambda: thawed.append(True))
    board.add(page)
    board.stop_all_nowait(StopLevel.HARD, StopReason.VEHICLE)
    board.release_all_nowait()
    # Its stop stands, and the workers it froze are not continued by this release.
    assert page.level() == StopLevel.HARD and thawed == []
    guardian.answers = [False]
    board.resync_nowait()  # its "free": the release held back is done now
    assert page.level() == StopLevel.RUN and thawed == [True]
    page.close()


def test_a_soft_resync_waits_while_the_guardian_holds_again() -> None:
    board, page = PageBoard(), StopPage.create("worker")
    thawed: list[bool] = []
    board.add_after_release(lambda: thawed.append(True))
    board.add(page)
    board.stop_all_nowait(StopLevel.SOFT, StopReason.BUDGET)
    # The guardian stopped, said "free" and stopped again before the resync ran.
    page.request_stop(StopLevel.HARD, StopReason.VEHICLE)
    board.set_interlock(Holding(True))
    board.resync_nowait()
    assert page.level() == StopLevel.HARD and thawed == []
    # Or it stops again while the soft level goes back on the pages: its stop stands.
    board.set_interlock(Holding(False, True))
    board.resync_nowait()
    assert page.level() == StopLevel.HARD and thawed == []
    board.set_interlock(Holding(False))
    board.resync_nowait()
    assert page.level() == StopLevel.RUN and thawed == [True]  # the held release, done
    page.close()


def test_resync_puts_the_daemons_own_level_back() -> None:
    board, page = PageBoard(), StopPage.create("worker")
    board.set_interlock(Holding(False))
    thawed: list[bool] = []
    board.add_after_release(lambda: thawed.append(True))
    board.add(page)
    # The guardian stopped a worker the daemon never stopped (its frame was lost here).
    page.request_stop(StopLevel.HARD, StopReason.VEHICLE)
    board.resync_nowait()
    assert page.level() == StopLevel.RUN and thawed == [True]
    # A soft stop of the daemon's own goes back as soft.
    board.stop_all_nowait(StopLevel.SOFT, StopReason.BUDGET)
    page.request_stop(StopLevel.HARD, StopReason.VEHICLE)
    board.resync_nowait()
    assert page.level() == StopLevel.SOFT
    # A hard stop of its own stays until its own release.
    board.stop_all_nowait(StopLevel.HARD, StopReason.VEHICLE)
    board.resync_nowait()
    assert page.level() == StopLevel.HARD
    page.close()


def _busy_child() -> subprocess.Popen[bytes]:
    """A child computing on two threads, as a busy CPU worker does."""
    code = (
        "import threading\n"
        "def spin():\n    while True: pass\n"
        "threading.Thread(target=spin, daemon=True).start()\n"
        "print('ready', flush=True)\nspin()\n"
    )
    child = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE)
    assert child.stdout is not None and child.stdout.readline() == b"ready\n"
    return child


def _guarding(child_pid: int, page: StopPage, priority: int = 10) -> tuple[GuardianBoard, StopPage]:
    own = StopPage.create("own")
    # The daemon's priority by default; its confirmer thread is never started here.
    board = GuardianBoard(own, priority=priority)
    board.release_all_nowait()
    board.add(1, page)
    board.set_pid(1, child_pid, True)
    page.mark_busy(True)
    return board, own


@contextlib.contextmanager
def _guarding_busy_child(priority: int = 10) -> Iterator[tuple[GuardianBoard, StopPage, int]]:
    """A board guarding a busy child's page: (board, page, pid); all undone on exit."""
    child, page = _busy_child(), StopPage.create("worker")
    board, own = _guarding(child.pid, page, priority)
    try:
        yield board, page, child.pid
    finally:
        board.release_all_nowait()
        os.kill(child.pid, signal.SIGCONT)
        child.kill()
        child.communicate()
        board.close()
        own.close()


def test_the_stop_thread_confirms_a_frozen_worker_itself() -> None:
    # No confirmer thread runs: an acknowledgement on return is the stop thread's own. It
    # looks only where the worker's threads outrank it (raised to real time): without the
    # privilege, it leaves the worker to the confirmer thread at once.
    # The look is bounded (CONFIRM_INLINE_S): on a loaded machine the kernel may not have
    # stopped every thread by then, and the worker is left to the confirmer. Up to five tries.
    for _ in range(5):
        with _guarding_busy_child() as (board, page, pid):
            written_ns = board.stop_all_nowait(StopLevel.HARD, StopReason.VEHICLE)
            snap = page.snapshot()
            if not realtime_permitted():
                assert not snap.acknowledged
                return
            if snap.acknowledged:
                assert snap.ack_ns >= written_ns and freeze.all_threads_stopped(pid)
                return
            assert board._workers[0].frozen  # handed to the confirmer, not forgotten
    raise AssertionError("no inline acknowledgement in five stops of a busy worker")


def test_no_inline_look_where_the_workers_threads_cannot_outrank_the_stop_thread() -> None:
    # At priority 99 the boost is 99 too: equal, the threads would wait behind the look.
    with _guarding_busy_child(priority=99) as (board, page, _pid):
        board.stop_all_nowait(StopLevel.HARD, StopReason.VEHICLE)
        assert not page.snapshot().acknowledged  # left to the confirmer thread (not started)


def test_a_worker_gone_meanwhile_is_not_looked_for() -> None:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()  # reaped: its pid names nobody now
    page = StopPage.create("worker")
    board, own = _guarding(child.pid, page)
    # Frozen by an earlier stop, then killed late by the daemon: its "del" is not here yet.
    board._workers[0].frozen = True
    try:
        started = time.monotonic()
        board.stop_all_nowait(StopLevel.HARD, StopReason.VEHICLE)
        assert time.monotonic() - started < CONFIRM_INLINE_S * 50  # no look for it at all
        assert not board._workers[0].frozen
    finally:
        board.close()
        own.close()


def test_a_worker_that_does_not_stop_is_left_to_the_confirmer_after_the_inline_look() -> None:
    # A zombie never shows T: the stop thread looks for CONFIRM_INLINE_S, then hands over
    # (the confirmer thread, not started here, would go on looking; the daemon's kills).
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    os.waitid(os.P_PID, child.pid, os.WEXITED | os.WNOWAIT)  # exited, not reaped
    page = StopPage.create("worker")
    board, own = _guarding(child.pid, page)
    try:
        started = time.monotonic()
        board.stop_all_nowait(StopLevel.HARD, StopReason.VEHICLE)
        elapsed = time.monotonic() - started
        assert not page.snapshot().acknowledged
        if realtime_permitted():
            assert CONFIRM_INLINE_S <= elapsed < 1.0
    finally:
        child.wait()
        board.close()
        own.close()
