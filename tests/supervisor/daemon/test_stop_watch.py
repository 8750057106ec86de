"""The stop watch: confirms hard stops from the pages' acknowledgements, or kills."""

from __future__ import annotations

import trio

from sandbox.stop_page import StopLevel, StopPage, StopReason
from supervisor.daemon.stop_watch import StopWatch
from supervisor.hotpath import HotPath
from supervisor.policy import AdmissionPolicy, PolicyConfig
from supervisor.preempt import PageBoard
from supervisor.vehicle.state import VehicleState


def _watch(board: PageBoard, kills: list[list[int]]) -> StopWatch:
    hotpath = HotPath(VehicleState(), AdmissionPolicy(PolicyConfig()), board)

    def kill_late(late: list[int]) -> int:
        kills.append(late)
        return len(late)

    return StopWatch(hotpath, board, 0.05, kill_late)


async def test_a_page_whose_worker_died_meanwhile_does_not_break_the_report() -> None:
    board, kills = PageBoard(), []
    acked, gone = StopPage.create("acked"), StopPage.create("gone")
    board.add(acked)
    board.add(gone)
    board.stop_all_nowait(StopLevel.HARD, StopReason.VEHICLE)
    acked.acknowledge(acked.generation())
    gone.close()  # the pool closes the page of a worker that exited
    with trio.fail_after(5):
        report = await _watch(board, kills).confirm()
    acked.close()
    assert (report.workers, report.killed, kills) == (1, 0, [])
    assert report.flag_to_idle_ms is not None and report.flag_to_idle_ms >= 0


async def test_a_late_page_is_killed_after_the_deadline() -> None:
    board, kills = PageBoard(), []
    late = StopPage.create("late")
    board.add(late)
    board.stop_all_nowait(StopLevel.HARD, StopReason.VEHICLE)
    with trio.fail_after(5):
        report = await _watch(board, kills).confirm()
    late.close()
    assert (report.workers, report.killed, kills) == (1, 1, [[0]])
    assert report.flag_to_idle_ms is None


async def test_a_stop_released_before_every_worker_answered_kills_nobody() -> None:
    board, kills = PageBoard(), []
    page = StopPage.create("idle")
    board.add(page)
    board.stop_all_nowait(StopLevel.HARD, StopReason.VEHICLE)
    board.release_all_nowait()  # admitted again at once (settle time 0)
    with trio.fail_after(5):
        report = await _watch(board, kills).confirm()
    page.close()
    assert (report.killed, kills, report.flag_to_idle_ms) == (0, [], None)
