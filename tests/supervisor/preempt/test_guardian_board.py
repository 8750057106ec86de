"""The guardian's board and the daemon board's interlock, without an event loop or processes."""

from __future__ import annotations

from sandbox.board import PageBoard
from sandbox.stop_page import StopLevel, StopPage, StopReason
from supervisor.preempt.guardian.board import GuardianBoard


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
    board.set_interlock(
        Holding(False, True)
    )  # not holding, then holding once the pages are written
    board.add(page)
    board.stop_all_nowait(StopLevel.HARD, StopReason.VEHICLE)
    board.release_all_nowait()
    assert page.level() == StopLevel.HARD
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
