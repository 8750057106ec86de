"""The guardian's stopper: hard stops written to the workers' pages from its own process.

`GuardianBoard` is the `Stopper` of the guardian's hot path (`supervisor.preempt.guardian.
process`). It acts only on hard stops, and only to stop: it writes HARD on every worker's
stop page, freezes the workers the pool runs in freeze mode (SIGSTOP, their threads raised to
real time so that each reaches its stop at once) when it has a job out (the page's ``busy``
word, written by the pool) and confirms each frozen one idle once every thread shows ``T`` in
/proc, writing the acknowledgement on its page; an idle one is acknowledged at once. It never
lets a worker run: admission stays the daemon's.

A status page (the `StopPage` layout, its own memfd) carries the guardian's intent: it writes
HARD there before any worker page, and RUN when the car is safe again; the daemon's board
releases nothing while it reads HARD there (`sandbox.board.Interlock`). When the guardian lets
go it tells the daemon (``free``), which puts its own level back on every page and continues
the frozen workers (`PageBoard.resync_nowait`): whether it ever saw this stop or not, what runs
is the daemon's decision.

Everything here runs on the guardian's stop thread, except `add`, `set_pid` and `remove`,
which the guardian's control task calls; the worker set is an immutable tuple replaced whole.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Final

from sandbox import freeze
from sandbox.stop_page import StopLevel, StopPage, StopReason
from supervisor.daemon.realtime import enter_realtime

LOG = logging.getLogger(__name__)

CONFIRM_POLL_S: Final = 100e-6
# How long the guardian confirms frozen workers; the daemon's confirmer kills late ones.
CONFIRM_FOR_S: Final = 0.05
# How long the stop thread itself looks for the frozen workers' stop, without sleeping, before
# the confirmer thread takes over: the common case, every thread stopped 0.1-0.6 ms after the
# SIGSTOP, costs no hand-over to another thread of this interpreter (see `stop_all_nowait`).
CONFIRM_INLINE_S: Final = 0.002


@dataclass(eq=False)
class Guarded:
    """One worker as the guardian knows it: its page (its own mapping), pid, freeze mode."""

    key: int
    page: StopPage
    pid: int = 0
    freeze: bool = False
    frozen: bool = False
    boosted: list[int] = field(default_factory=list)


class GuardianBoard:
    """See the module docstring. `on_stop(ns)` and `on_free()` are called on the stop thread
    after a hard stop and when it lets go; `on_ack(ns)` for each acknowledgement it wrote (an
    idle worker's on the stop thread, a frozen one's on the confirmer's)."""

    def __init__(
        self,
        own: StopPage,
        *,
        priority: int,
        on_stop: Callable[[int], None] = lambda _ns: None,
        on_free: Callable[[], None] = lambda: None,
        on_ack: Callable[[int], None] = lambda _ns: None,
    ) -> None:
        self._own = own
        self._priority = priority
        self._on_stop = on_stop
        self._on_free = on_free
        self._on_ack = on_ack
        self._workers: tuple[Guarded, ...] = ()
        # Held from the start: until this process has seen the car safe, nothing is.
        own.request_stop(StopLevel.HARD, StopReason.VEHICLE)
        self.holding = True
        self._wake = threading.Event()
        self._closing = False
        self._confirmer = threading.Thread(
            target=self._confirm_loop, name="parkmesh-guardian-confirm", daemon=True
        )

    def start(self) -> None:
        """Start the confirmer thread."""
        self._confirmer.start()

    def close(self) -> None:
        """End the confirmer thread and unmap the worker pages."""
        self._closing = True
        self._wake.set()
        if self._confirmer.is_alive():
            self._confirmer.join(1.0)
        for worker in self._workers:
            with contextlib.suppress(ValueError, OSError):
                worker.page.close()
        self._workers = ()

    # -- the control task -------------------------------------------------------------------

    def add(self, key: int, page: StopPage) -> None:
        """Guard `page` from now on; it starts stopped while the guardian holds a stop."""
        self._workers = (*self._workers, Guarded(key, page))
        if self.holding:
            page.request_stop(StopLevel.HARD, StopReason.VEHICLE)

    def set_pid(self, key: int, pid: int, freeze_mode: bool) -> None:
        """The worker of page `key` runs as `pid`; `freeze_mode`: stop it with SIGSTOP."""
        for worker in self._workers:
            if worker.key == key:
                worker.pid, worker.freeze = pid, freeze_mode

    def remove(self, key: int) -> None:
        """Forget the worker of page `key` (it is gone) and unmap its page."""
        gone = [w for w in self._workers if w.key == key]
        self._workers = tuple(w for w in self._workers if w.key != key)
        for worker in gone:
            with contextlib.suppress(ValueError, OSError):
                worker.page.close()

    # -- the stop thread (the `Stopper` protocol) -------------------------------------------

    def stop_all_nowait(self, level: StopLevel, reason: StopReason) -> int:
        """On a hard stop: hold, write every page, freeze the freeze-mode workers."""
        now_ns = time.monotonic_ns()
        if level != StopLevel.HARD:
            return now_ns  # soft stops are the daemon's business
        # The hold first: from here on the daemon's board releases nothing.
        self._own.request_stop(StopLevel.HARD, reason, now_ns)
        self.holding = True
        workers = self._workers
        for worker in workers:
            with contextlib.suppress(ValueError):  # unmapped: removed meanwhile
                worker.page.request_stop(StopLevel.HARD, reason, now_ns)
        frozen: list[Guarded] = []
        boost = freeze.boost_priority(self._priority)
        # Raised strictly above this thread (not so at priority 99, or without the privilege)
        # the frozen workers' threads preempt it to reach their stop.
        outranked = boost > self._priority
        for worker in workers:
            try:
                busy = worker.page.busy()
                if not busy:  # no job out to it: idle, as the pool acknowledges it too
                    acked_ns = time.monotonic_ns()
                    worker.page.acknowledge(worker.page.generation(), acked_ns)
                    self._on_ack(acked_ns)
            except ValueError:
                continue
            if busy and worker.freeze and worker.pid:
                try:
                    os.kill(worker.pid, signal.SIGSTOP)
                except OSError:
                    worker.frozen = False  # gone (killed late by the daemon): nothing to confirm
                    continue
                worker.frozen = True
                frozen.append(worker)
                if not worker.boosted:
                    worker.boosted = freeze.boost_threads(worker.pid, boost)
                outranked = outranked and bool(worker.boosted)
        # The stop thread confirms the frozen workers itself first, polling without a sleep,
        # where their threads outrank it (boosted: they preempt it to reach their stop; at
        # normal priority a poll without a sleep would keep them from it). Handed to the
        # confirmer thread, the acknowledgement waited for this interpreter's GIL, passed
        # among the confirmer, the teller and the channel reader after every stop: 1.1 ms
        # after the last thread had stopped at the median, 2.5 ms at worst (ftrace, bench
        # stop-under-load). A hard stop is in force meanwhile: frames read late can only
        # stop more.
        if frozen and not (
            outranked and self._confirm_frozen(time.monotonic() + CONFIRM_INLINE_S, 0.0, frozen)
        ):
            self._wake.set()
        self._on_stop(now_ns)
        return now_ns

    def release_all_nowait(self) -> None:
        """The car is safe again: let go. Nothing runs because of it: the daemon puts its own
        level back on the pages and continues the frozen (`PageBoard.resync_nowait`, on
        ``free``), or its own release does."""
        if not self.holding:
            return
        for worker in self._workers:
            if worker.boosted:  # before anyone continues it: a boosted thread runs at real time
                freeze.unboost_threads(worker.boosted)
                worker.boosted = []
            worker.frozen = False
        self.holding = False
        self._own.release()
        self._on_free()

    @property
    def releasable(self) -> bool:
        """Whether the guardian holds a stop it may let go of."""
        return self.holding

    # -- the confirmer thread ---------------------------------------------------------------

    def _confirm_loop(self) -> None:
        # Below the stop thread, and below the frozen workers' threads (`freeze.
        # boost_priority`): they need a CPU to reach their stop, and this thread polls while
        # they do.
        enter_realtime(max(1, self._priority - 2))
        while True:
            self._wake.wait()
            self._wake.clear()
            if self._closing:
                return
            self._confirm_frozen(time.monotonic() + CONFIRM_FOR_S, CONFIRM_POLL_S)

    def _confirm_frozen(
        self, until: float, poll_s: float, workers: list[Guarded] | None = None
    ) -> bool:
        """Acknowledge each frozen worker (of `workers`, or every one) once all its threads
        are stopped, looking every `poll_s` (0: without a pause) until `until`; returns
        whether none is left pending."""
        pending = [w for w in (self._workers if workers is None else workers) if w.frozen]
        while pending and time.monotonic() < until and self.holding:
            for worker in tuple(pending):
                try:
                    snap = worker.page.snapshot()
                except ValueError:
                    pending.remove(worker)
                    continue
                if snap.acknowledged:
                    pending.remove(worker)
                elif _leader_stopped(worker.pid) and freeze.all_threads_stopped(worker.pid):
                    now_ns = time.monotonic_ns()
                    worker.page.acknowledge(snap.generation, now_ns)
                    self._on_ack(now_ns)
                    pending.remove(worker)
            if pending and poll_s:
                time.sleep(poll_s)
        return not pending


def _leader_stopped(pid: int) -> bool:
    """Whether the main thread of `pid` is stopped: one read, before all threads are read."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            data = f.read()
    except OSError:
        return False
    return data[data.rindex(b")") + 2 : data.rindex(b")") + 3] in (b"T", b"t")
