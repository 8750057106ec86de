"""Confirming a hard stop: each busy worker acknowledged on its page, or is frozen, or is late.

There is one confirmer, the pool's (`Confirmer`): a thread woken synchronously by the pool's
after-stop hook, which runs on the thread that wrote the stop (the daemon's stop thread), so no
scheduler hop or trio loop step sits between the flag and the confirmation. It runs at the stop
path's real-time priority and kills a late worker itself, on its own thread: it never waits
behind the trio loop's follow-up work (logging, DBus signals, bookkeeping).

A worker is confirmed idle when its page carries its acknowledgement, or, when frozen, once the
kernel reports the group stop and every thread shows ``T`` in /proc: what counts is the state
of the worker when the confirmer looks, whatever the confirmer's own delay. Only a worker still
unconfirmed at the deadline, looked at once more then, is killed; one that acknowledged is
never killed. `wait_for_stops` polls every `POLL_S`, so the measured latency is at most one poll
interval above the truth.
"""

from __future__ import annotations

import collections
import contextlib
import logging
import os
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Final, Literal

import trio

from sandbox import freeze
from sandbox.stop_page import PageSnapshot, StopLevel

if TYPE_CHECKING:
    from sandbox.handle import WorkerHandle

LOG = logging.getLogger(__name__)
POLL_S: Final = 50e-6

Via = Literal["ack", "freeze", "kill", "exited", "released"]


@dataclass(frozen=True, slots=True)
class StopSample:
    """How one busy worker stopped: through its own ack, frozen, killed at the deadline by the
    confirmer, exited before it was confirmed (it died, or the pool ended it), or released:
    the stop was lifted before it was confirmed (a door open for a moment), so there is
    nothing left to confirm and nobody to kill."""

    model: str
    latency_ms: float
    via: Via


def _confirm(handle: WorkerHandle, requested_ns: int) -> StopSample | None:
    """The worker's stop as it is now, or None while it is still unconfirmed."""
    model = handle.spec.model
    try:
        snap: PageSnapshot = handle.page.snapshot()
    except ValueError:  # the worker exited and the pool closed its page meanwhile
        return StopSample(model, (time.monotonic_ns() - requested_ns) / 1e6, "exited")
    if snap.acknowledged:
        return StopSample(model, (snap.ack_ns - requested_ns) / 1e6, "ack")
    if snap.level != StopLevel.HARD:
        return StopSample(model, (time.monotonic_ns() - requested_ns) / 1e6, "released")
    if handle.frozen and handle.frozen_confirmed():
        now = time.monotonic_ns()
        handle.page.acknowledge(snap.generation, now)
        return StopSample(model, (now - requested_ns) / 1e6, "freeze")
    if handle.returncode is not None:
        return StopSample(model, (time.monotonic_ns() - requested_ns) / 1e6, "exited")
    return None


def wait_for_stops(
    handles: Sequence[WorkerHandle],
    deadline_s: float,
    kill: Callable[[WorkerHandle], None] | None = None,
    boost: int = 0,
) -> dict[WorkerHandle, StopSample]:
    """Poll until every handle's stop is confirmed; at the deadline, `kill` the rest.

    A frozen worker is confirmed once all its threads are stopped; the confirmer then writes
    the acknowledgement on its page (time of confirmation), since the worker itself cannot.
    `boost` > 0: a frozen worker not stopped at the first look gets its threads raised to that
    real-time priority, so that each runs and reaches its stop at once (`freeze.boost_threads`).
    """
    pending = list(handles)
    results: dict[WorkerHandle, StopSample] = {}
    requested = {}
    for handle in pending:
        try:
            requested[handle] = handle.page.snapshot().requested_ns
        except ValueError:
            requested[handle] = time.monotonic_ns()
    deadline_ns = max(requested.values(), default=0) + int(deadline_s * 1e9)
    first = True
    while pending:
        past_deadline = time.monotonic_ns() > deadline_ns
        for handle in list(pending):
            sample = _confirm(handle, requested[handle])
            if sample is None and past_deadline:
                # Looked at once more after the deadline passed: really late.
                if kill is not None:
                    kill(handle)
                sample = StopSample(
                    handle.spec.model, (time.monotonic_ns() - requested[handle]) / 1e6, "kill"
                )
            if sample is not None:
                results[handle] = sample
                pending.remove(handle)
            elif first and boost > 0 and handle.frozen:
                handle.boost_nowait(boost)
        first = False
        if pending:
            time.sleep(POLL_S)
    return results


def enter_realtime(priority: int) -> bool:
    """Give the calling thread SCHED_FIFO at `priority` (0: leave it); False if refused."""
    if priority <= 0:
        return False
    try:
        os.sched_setscheduler(0, os.SCHED_FIFO | os.SCHED_RESET_ON_FORK, os.sched_param(priority))
    except OSError as exc:
        LOG.warning("cannot use real-time priority %d for the stop confirmer: %s", priority, exc)
        return False
    return True


class Confirmer:
    """The pool's one stop confirmer: a thread woken synchronously by the after-stop hook.

    `submit_nowait` (called right after the stop write, on the thread that wrote it) only
    appends to a queue and sets a `threading.Event`. Late workers are killed by `kill` on the
    confirmer's thread. Results go to the trio thread through `deliver`, run with
    ``TrioToken.run_sync_soon`` (it must not raise). Create it on the trio thread.
    """

    def __init__(
        self,
        deadline_s: float,
        deliver: Callable[[dict[WorkerHandle, StopSample]], None],
        kill: Callable[[WorkerHandle], None] | None = None,
        *,
        priority: int = 0,
    ) -> None:
        self.deadline_s = deadline_s
        self.priority = priority
        # Frozen workers' threads are raised above the confirmer until they stop.
        self.boost = freeze.boost_priority(priority)
        self.kills = 0
        self._deliver = deliver
        self._kill = kill
        self._token = trio.lowlevel.current_trio_token()
        self._wake = threading.Event()
        self._queue: collections.deque[list[WorkerHandle]] = collections.deque()
        self._closed = False
        self._thread = threading.Thread(
            target=self._loop, name="parkmesh-stop-confirmer", daemon=True
        )

    def start(self) -> None:
        """Start the thread."""
        self._thread.start()

    def submit_nowait(self, handles: Sequence[WorkerHandle]) -> None:
        """Confirm the stop of `handles` (synchronous, never blocks; any thread)."""
        self._queue.append(list(handles))
        self._wake.set()

    def close(self) -> None:
        """Let the thread end (it finishes the confirmation in progress, at most the deadline)."""
        self._closed = True
        self._wake.set()

    def _kill_late(self, handle: WorkerHandle) -> None:
        self.kills += 1
        if self._kill is not None:
            self._kill(handle)

    def _loop(self) -> None:
        enter_realtime(self.priority)
        while True:
            self._wake.wait()
            self._wake.clear()
            while self._queue:
                batch = self._queue.popleft()
                try:
                    results = wait_for_stops(batch, self.deadline_s, self._kill_late, self.boost)
                except Exception:
                    # The one confirmer must outlive a bad batch (a page closed under it):
                    # its workers are killed, as late, and it serves the next stop.
                    LOG.exception("confirming a stop failed: killing its workers")
                    for handle in batch:
                        with contextlib.suppress(Exception):
                            self._kill_late(handle)
                    continue
                try:
                    self._token.run_sync_soon(self._deliver, results)
                except trio.RunFinishedError:
                    return
            if self._closed:
                return
