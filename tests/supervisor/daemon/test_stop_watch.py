"""The stop watch: reports hard stops from the pages' acknowledgements; it never kills."""

from __future__ import annotations

import trio

from sandbox.board import PageBoard
from sandbox.stop_page import StopLevel, StopPage, StopReason
from supervisor.daemon.stop_watch import StopWatch
from supervisor.hotpath import HotPath
from supervisor.policy import AdmissionPolicy, PolicyConfig
from supervisor.vehicle.state import VehicleState


def _watch(board: PageBoard, kills: list[int]) -> StopWatch:
    """A watch whose pool has killed `len(kills)` workers so far."""
    hotpath = HotPath(VehicleState(), AdmissionPolicy(PolicyConfig()), board)
    return StopWatch(hotpath, board, 0.05, lambda: len(kills))


async def test_a_page_whose_worker_died_meanwhile_does_not_break_the_report() -> None:
    board, kills = PageBoard(), list[int]()
    acked, gone = StopPage.create("acked"), StopPage.create("gone")
    board.add(acked)
    board.add(gone)
    board.stop_all_nowait(StopLevel.HARD, StopReason.VEHICLE)
    acked.acknowledge(acked.generation())
    gone.close()  # the pool closes the page of a worker that exited
    with trio.fail_after(5):
        report = await _watch(board, kills).confirm()
    acked.close()
    assert (report.workers, report.killed, report.late) == (1, 0, 0)
    assert report.flag_to_idle_ms is not None and report.flag_to_idle_ms >= 0


async def test_a_late_page_is_reported_not_killed() -> None:
    # Killing is the pool's confirmer's job alone (issue 11): the watch only reports.
    board, kills = PageBoard(), list[int]()
    late = StopPage.create("late")
    board.add(late)
    board.stop_all_nowait(StopLevel.HARD, StopReason.VEHICLE)
    watch = _watch(board, kills)
    with trio.fail_after(5):
        report = await watch.confirm()
    snap = late.snapshot()
    late.close()
    assert (report.workers, report.late, report.killed) == (1, 1, 0)
    assert report.flag_to_idle_ms is None and not snap.acknowledged


async def test_kills_by_the_pool_during_the_stop_are_reported() -> None:
    board, kills = PageBoard(), [1]  # one kill before this stop
    page = StopPage.create("killed")
    board.add(page)
    board.stop_all_nowait(StopLevel.HARD, StopReason.VEHICLE)
    watch = _watch(board, kills)

    async def pool_kills() -> None:
        await trio.sleep(0.01)
        kills.append(1)  # the confirmer killed the worker; the pool closes its page
        board.remove(page)
        page.close()

    with trio.fail_after(5):
        async with trio.open_nursery() as nursery:
            nursery.start_soon(pool_kills)
            report = await watch.confirm()
    assert (report.killed, report.late, report.workers) == (1, 0, 0)


async def test_a_stop_released_before_every_worker_answered_kills_nobody() -> None:
    board, kills = PageBoard(), list[int]()
    page = StopPage.create("idle")
    board.add(page)
    board.stop_all_nowait(StopLevel.HARD, StopReason.VEHICLE)
    board.release_all_nowait()  # admitted again at once (settle time 0)
    with trio.fail_after(5):
        report = await _watch(board, kills).confirm()
    page.close()
    assert (report.killed, report.late, report.flag_to_idle_ms) == (0, 0, None)
