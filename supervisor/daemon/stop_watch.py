"""After a hard stop: wait for the workers' acknowledgements and report what the stop cost.

The stop watch only reports. Confirming each worker idle, and killing the one that missed its
deadline, is the worker pool's confirmer's job (`sandbox.confirm`): it runs on its own thread at
the stop path's priority, so it never waits behind this trio task, and there is exactly one
mechanism that kills.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

import trio

from sandbox.board import PageBoard
from sandbox.stop_page import PageSnapshot, StopLevel, StopPage
from supervisor.hotpath import HotPath

LOG = logging.getLogger(__name__)

# How often the acknowledgement pages are read while a stop is pending. Reading a page is a
# memory load; a millisecond keeps the report honest without busy-waiting. (The figure that
# matters, the acknowledgement time, is written on the page by the worker or the confirmer.)
POLL_S = 0.001


@dataclass(frozen=True, slots=True)
class StopReport:
    """What one hard stop cost.

    Attributes:
        workers: pages still mapped when the watch looked (a worker that died took its own).
        killed: workers the pool's confirmer killed for missing the deadline meanwhile.
        late: pages still unacknowledged when the watch stopped waiting.
    """

    reading_to_flag_ms: float | None
    flag_to_idle_ms: float | None
    workers: int
    killed: int
    late: int = 0


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
    """Reports each hard stop: how long until every page was acknowledged, and who was killed.

    Args:
        deadline_s: how long to wait for the acknowledgements (a little longer than the
            pool's own deadline, after which its confirmer has killed the late).
        kills: the pool's count of workers killed for lateness (`WorkerPool.kills`).
    """

    def __init__(
        self,
        hotpath: HotPath,
        board: PageBoard,
        deadline_s: float,
        kills: Callable[[], int] | None = None,
    ) -> None:
        self.hotpath = hotpath
        self.board = board
        self.deadline_s = deadline_s
        self.kills = kills
        self.last: StopReport | None = None

    async def confirm(self) -> StopReport:
        """Wait for the current stop to be acknowledged (or the deadline); returns its report.

        Then the policy learns that the stop is complete and leaves STOPPING.
        Cancellation: safe; the policy then stays STOPPING until the next confirmation.
        """
        pages = self.board.pages
        kills_before = self.kills() if self.kills is not None else 0
        with trio.move_on_after(self.deadline_s):
            # The workers write their acknowledgement into shared memory, which cannot wake
            # a trio task: polling it is the only way to see it.
            while not all(_done(s) for s in _snapshots(pages)):  # noqa: ASYNC110
                await trio.sleep(POLL_S)
        snaps = _snapshots(pages)
        late = sum(1 for s in snaps if not _done(s))
        killed = (self.kills() if self.kills is not None else 0) - kills_before
        if late:
            LOG.warning(
                "%d worker(s) had not acknowledged the stop after %.0f ms",
                late,
                self.deadline_s * 1000,
            )
        acked = [
            s.ack_ns - s.requested_ns for s in snaps if s.acknowledged and s.level != StopLevel.RUN
        ]
        report = StopReport(
            reading_to_flag_ms=self.hotpath.statistics().last_stop_latency_ms,
            flag_to_idle_ms=max(acked) / 1e6 if acked else None,
            workers=len(snaps),
            killed=killed,
            late=late,
        )
        self.last = report
        self.hotpath.stop_acknowledged()
        return report
