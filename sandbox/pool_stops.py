"""The pool's part of a stop: freezing busy workers, the confirmer's results, thawing.

`PoolStops` holds the board's hooks that the pool registers. After every stop write, on the
thread that wrote it (the daemon's stop thread), `after_stop_nowait` acknowledges for idle and
loading workers, and, on a HARD stop in freeze mode, sends SIGSTOP to each busy worker and
raises its threads so that each reaches its stop at once; then it hands the busy workers to the
pool's one confirmer (`sandbox.confirm.Confirmer`), which confirms each stop and kills the late
ones itself, on its own thread. After every release, `thaw_all_nowait` continues every frozen
worker, on the thread that released. The confirmer's results come back to the trio thread
(`stops_confirmed`): recorded, and the jobs of frozen workers answered "preempted".

Every hook ends with the pool's `Wakeup` notice: the pool's tasks (start-up, release, the
jobs waiting for a worker) look at the level again, on the trio thread.
"""

from __future__ import annotations

import collections
import contextlib
import logging
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager

from sandbox import freeze
from sandbox.board import PageBoard
from sandbox.confirm import Confirmer, StopSample
from sandbox.handle import WorkerHandle
from sandbox.slot import Slot
from sandbox.stop_page import StopLevel
from sandbox.wakeup import Wakeup

LOG = logging.getLogger("sandbox.pool")
STOP_SAMPLES = 10_000


class PoolStops:
    """The stop hooks of one pool, its confirmer, and what its stops cost.

    Args:
        slots: the pool's slots (read, never changed, from the stop thread).
        freeze: busy workers are frozen with SIGSTOP on a HARD stop.
        ack_deadline_s: how long a busy worker has to stop before the confirmer kills it.
        stop_priority: SCHED_FIFO priority of the confirmer (0: normal scheduling).
        wakeup: noticed after every hook, for the pool's waiting tasks.

    Attributes:
        kills: workers the confirmer killed for missing the deadline.
        stop_samples: how each busy worker stopped, latest last.
        confirmer: the running confirmer (None outside `confirming`).
    """

    def __init__(
        self,
        board: PageBoard,
        slots: Mapping[str, Slot],
        *,
        freeze: bool,
        ack_deadline_s: float,
        stop_priority: int,
        wakeup: Wakeup,
    ) -> None:
        self.board = board
        self.slots = slots
        self.freeze = freeze
        self.ack_deadline_s = ack_deadline_s
        self.stop_priority = stop_priority
        self.wakeup = wakeup
        self.kills = 0
        self.stop_samples: collections.deque[StopSample] = collections.deque(maxlen=STOP_SAMPLES)
        self.confirmer: Confirmer | None = None
        board.add_after_stop(self.after_stop_nowait)
        # Thawed by the thread that released (the stop thread), in order with its freezes;
        # the pool's lifecycle task thaws once more as a backstop, after the notice.
        board.add_after_release(self.thaw_all_nowait)

    @contextmanager
    def confirming(self) -> Iterator[Confirmer]:
        """Run the confirmer for the duration of the block (trio thread). On exit it ends
        after the confirmation in progress, if any."""
        confirmer = Confirmer(
            self.ack_deadline_s, self.stops_confirmed, self.kill_late, priority=self.stop_priority
        )
        confirmer.start()
        self.confirmer = confirmer
        try:
            yield confirmer
        finally:
            confirmer.close()
            self.confirmer = None

    def handles(self) -> Iterable[WorkerHandle]:
        """The ready workers. Each slot's handle is read once: the stop thread walks these
        while the trio thread replaces them."""
        return (h for h in (s.handle for s in tuple(self.slots.values())) if h is not None)

    # -- the stop thread (board hooks) --------------------------------------------------------

    def after_stop_nowait(self, level: StopLevel) -> None:
        """The board's after-stop hook: on the thread that wrote the stop, right after the
        pages. Reads the trio thread's attributes only, sends signals, wakes the confirmer."""
        try:
            self._stop_workers_nowait(level)
        finally:
            self.wakeup.notify_nowait()

    def _stop_workers_nowait(self, level: StopLevel) -> None:
        # Every attribute of the trio thread's is read once into a local, and each worker is
        # handled on its own: one that died meanwhile (its page closed) must not keep the
        # others from being frozen and confirmed.
        for slot in tuple(self.slots.values()):
            starting = slot.starting
            if starting is not None:  # loading, not computing a job: nothing to stop
                with contextlib.suppress(ValueError):
                    starting.page.acknowledge(starting.page.generation())
        busy = []
        for handle in self.handles():
            try:
                if handle.busy_id is None:
                    handle.page.acknowledge(handle.page.generation())
                    continue
                if level == StopLevel.HARD and self.freeze:
                    # Also when marked frozen: a thaw on the trio thread may be under way.
                    handle.freeze_nowait()
                    # The SIGSTOP is pending: raised, each thread runs into it at once
                    # instead of waiting for a CPU (after the flags: this costs the stop
                    # nothing).
                    handle.boost_nowait(freeze.boost_priority(self.stop_priority))
            except (ValueError, OSError):  # the worker died meanwhile: nothing to stop
                continue
            busy.append(handle)
        confirmer = self.confirmer
        if level == StopLevel.HARD and busy and confirmer is not None:
            confirmer.submit_nowait(busy)

    def thaw_all_nowait(self) -> None:
        """The board's after-release hook: continue every worker in freeze mode, also those
        this pool did not freeze itself (the daemon's guardian freezes from its own process);
        a SIGCONT to a running worker does nothing."""
        try:
            self.thaw_nowait(everyone=self.freeze)
        finally:
            self.wakeup.notify_nowait()

    def thaw_nowait(self, *, everyone: bool = False) -> None:
        """SIGCONT every frozen worker (`everyone`: every live one) unless a hard stop is in
        force (it may have come from the stop thread a moment ago: that stop's freeze must
        stand). Any thread."""
        for handle in self.handles():
            if (handle.frozen or everyone) and self.board.level() != StopLevel.HARD:
                handle.thaw_nowait(force=everyone)
                if self.board.level() == StopLevel.HARD and handle.busy_id is not None:
                    handle.freeze_nowait()  # a stop came in meanwhile: its freeze stands

    # -- the confirmer's thread and its results ------------------------------------------------

    def kill_late(self, handle: WorkerHandle) -> None:
        """The confirmer's kill, on its thread: SIGKILL, marked as the pool's own."""
        self.kills += 1
        handle.kill_nowait()

    def stops_confirmed(self, samples: dict[WorkerHandle, StopSample]) -> None:
        """The confirmer's results, on the trio thread: record, report the killed, answer
        the jobs of frozen workers. (The confirmer already killed the late ones.)"""
        slots = {s.handle: s for s in self.slots.values() if s.handle is not None}
        for handle, sample in samples.items():
            if handle in slots:
                slots[handle].last_stop = sample
            self.stop_samples.append(sample)
            if sample.via == "kill":
                LOG.warning(
                    "worker %s (%s) missed the %.0f ms stop deadline: killed",
                    handle.pid,
                    handle.spec.model,
                    self.ack_deadline_s * 1000,
                )
            elif sample.via == "freeze":
                handle.give_up_nowait("preempted", "hard stop (worker frozen)")

    # -- the trio thread ------------------------------------------------------------------------

    def reassert_stop_nowait(self, handle: WorkerHandle) -> None:
        """A per-job stop was just lifted on the trio thread while the stop thread may have
        written a pool-wide hard stop: the board records its stops before writing them, so
        a stop that this release overwrote shows in `board.last` now; write it again."""
        last = self.board.last
        if last is None or last.level != StopLevel.HARD or handle.exited.is_set():
            return
        with contextlib.suppress(ValueError):
            if handle.page.level() != StopLevel.HARD:
                handle.page.request_stop(last.level, last.reason)
