"""After a hard stop: wait for the workers' acknowledgements, kill the late ones, report."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

import trio

from sandbox.stop_page import PageSnapshot, StopLevel, StopPage
from supervisor.hotpath import HotPath
from supervisor.preempt import PageBoard

LOG = logging.getLogger(__name__)

# How often the acknowledgement pages are read while a stop is pending. Reading a page is a
# memory load; a millisecond keeps the measured latency honest without busy-waiting.
POLL_S = 0.001


@dataclass(frozen=True, slots=True)
class StopReport:
    """What one hard stop cost."""

    reading_to_flag_ms: float | None
    flag_to_idle_ms: float | None
    workers: int
    killed: int


def _snapshots(pages: tuple[StopPage, ...]) -> list[PageSnapshot]:
    """The pages still mapped (a worker that died meanwhile took its page with it)."""
    snaps = []
    for page in pages:
        try:
            snaps.append(page.snapshot())
        except ValueError:  # mmap closed: the pool released the page of a dead worker
            continue
    return snaps


def _done(snap: PageSnapshot) -> bool:
    """Acknowledged, or released since (the car was admitted again before every worker
    answered: nothing is left to confirm, and an idle worker never acknowledges a release)."""
    return snap.acknowledged or snap.level == StopLevel.RUN


class StopWatch:
    """Confirms each hard stop: every page acknowledged within the deadline, or its worker killed.

    `kill_late(pages)` is called with the pages that missed the deadline (the worker pool kills
    their processes); then the policy learns the stop is complete and leaves STOPPING.
    """

    def __init__(
        self,
        hotpath: HotPath,
        board: PageBoard,
        deadline_s: float,
        kill_late: Callable[[list[int]], int] | None = None,
    ) -> None:
        self.hotpath = hotpath
        self.board = board
        self.deadline_s = deadline_s
        self.kill_late = kill_late
        self.last: StopReport | None = None

    async def confirm(self) -> StopReport:
        """Wait for the current stop to be acknowledged or enforced; returns its report.

        Cancellation: safe; the policy then stays STOPPING until the next confirmation.
        """
        pages = self.board.pages
        with trio.move_on_after(self.deadline_s):
            # The workers write their acknowledgement into shared memory, which cannot wake
            # a trio task: polling it is the only way to see it.
            while True:
                if all(_done(s) for s in _snapshots(pages)):
                    break
                await trio.sleep(POLL_S)
        snaps = _snapshots(pages)
        late = [i for i, s in enumerate(snaps) if not _done(s)]
        killed = 0
        if late:
            LOG.warning(
                "%d worker(s) missed the %.0f ms stop deadline: killing",
                len(late),
                self.deadline_s * 1000,
            )
            killed = self.kill_late(late) if self.kill_late is not None else 0
        acked = [s.ack_ns - s.requested_ns for s in snaps
                 if s.acknowledged and s.level != StopLevel.RUN]
        report = StopReport(
            reading_to_flag_ms=self.hotpath.statistics().last_stop_latency_ms,
            flag_to_idle_ms=max(acked) / 1e6 if acked else None,
            workers=len(snaps),
            killed=killed,
        )
        self.last = report
        self.hotpath.policy.stop_acknowledged()
        self.hotpath.tick()
        return report
