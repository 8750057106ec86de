"""The stop thread: the vehicle source is read, decided on and acted on here, not on the loop.

`run_stop_thread` runs a source's blocking *body* on a dedicated thread at real-time priority
(SCHED_FIFO where permitted) that owns the hot path while it runs. The body waits for its input
with `StopThreadControl.wait`, which also polls the hand-off eventfd (changes from the trio
loop run at once, before the next evaluation) and ticks the policy at its own deadlines
(a signal going stale, the settle timer), so a stale signal or a silent source is decided on
this thread too, whatever the trio loop is doing. See docs/stop-path.md.

GIL: the stop thread needs the GIL for a few tens of microseconds per frame. A thread that
holds it (the ledger writer, the uplink's journal, a trio worker thread) gives it up only at
the interpreter's switch interval, 5 ms by default; `run_stop_thread` lowers it to
`SWITCH_INTERVAL_S` for the process while a stop thread runs (measured in
`parkmesh bench stop-under-load`, docs/stop-path.md).
"""

from __future__ import annotations

import contextlib
import gc
import logging
import select
import sys
import threading
import time
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any, Final

import trio

from sandbox.stop_page import StopLevel, StopReason
from supervisor.daemon.realtime import enter_realtime
from supervisor.policy_clock import PolicyClock

if TYPE_CHECKING:
    from supervisor.hotpath import HotPath

LOG = logging.getLogger(__name__)

# The interpreter's switch interval while a stop thread runs: how long the stop thread can
# wait for the GIL behind a thread that computes in Python. 0.2 ms costs the other threads a
# few percent of throughput (more switches) and bounds the wait well under the stop budget.
SWITCH_INTERVAL_S: Final = 0.0002
# How long a stop thread may take to end once asked (its body checks `closing` after waits).
CLOSE_TIMEOUT_S: Final = 5.0

Body = Callable[["StopThreadControl"], None]


class StopThreadControl:
    """What a body running on the stop thread uses: waiting, starting, ending."""

    def __init__(
        self, hotpath: HotPath, token: trio.lowlevel.TrioToken, started: Callable[[], None]
    ) -> None:
        self.hotpath = hotpath
        self.closing = False
        self._token = token
        self._started = started
        self._started_sent = False
        self._clock = PolicyClock(hotpath)
        self._due = hotpath.clock()
        # The deadline whose tick was put off once to read input that was ready.
        self._deferred: float | None = None
        self.scheduling = "normal"

    def started(self) -> None:
        """Tell the trio side that the source serves (once; later calls do nothing)."""
        if not self._started_sent:
            self._started_sent = True
            with contextlib.suppress(trio.RunFinishedError):
                self._token.run_sync_soon(self._started)

    def close(self) -> None:
        """Ask the body to end (any thread): `closing` becomes true and `wait` returns."""
        self.closing = True
        self.hotpath.handoff.wake_nowait()

    def wait(self, fds: Iterable[int], timeout: float) -> set[int]:
        """Wait up to `timeout` s for one of `fds` to be readable; returns those that are.

        Meanwhile runs the calls other threads handed over and ticks the policy at its
        deadlines. Input that is waiting when a deadline has passed is returned first, and the
        tick comes at the next call: frames queued while this thread did not run are read
        before their signals are called stale. Returns early (possibly empty) when `closing`
        is set.
        """
        hotpath = self.hotpath
        handoff = hotpath.handoff
        wake = handoff.wake_fd
        poller = select.poll()
        poller.register(wake, select.POLLIN)
        for fd in fds:
            poller.register(fd, select.POLLIN | select.POLLERR | select.POLLHUP)
        end = time.monotonic() + timeout
        while True:
            handoff.run_pending_nowait()
            if self.closing:
                return set()
            now = hotpath.clock()
            # The loop's `PolicyClock` watches this: a stop thread that stops coming here
            # (wedged in a driver call, or dead) is treated as a failed source.
            hotpath.heartbeat = now
            due = min(self._due, self._clock.next_deadline(now))
            left = min(end - time.monotonic(), due - now)
            events = poller.poll(max(0.0, left) * 1000)
            ready = set()
            for fd, _mask in events:
                if fd == wake:
                    handoff.clear_wake_nowait()
                else:
                    ready.add(fd)
            handoff.run_pending_nowait()
            now = hotpath.clock()
            if now >= due and self._deferred != due:
                ready = ready or _waiting(poller, wake)
                if ready:
                    # Input came while the deadline passed (this thread did not run for a
                    # while: a stalled host, a long GIL wait, a slow hand-over): read it before
                    # deciding that the signals are stale. Once per deadline, so that a
                    # flooded source cannot put a tick off.
                    self._deferred = due
                    self._due = due
                    return ready
            if now >= due:
                hotpath.tick()
                self._due = self._clock.next_deadline(now)
            else:
                self._due = due
            if ready or self.closing or time.monotonic() >= end:
                return ready


def _waiting(poller: select.poll, wake: int) -> set[int]:
    """The sources readable now (a poll that does not wait), the hand-off's eventfd left out."""
    return {fd for fd, _mask in poller.poll(0) if fd != wake}


def idle_body(control: StopThreadControl) -> None:
    """A body with no input of its own: hand-overs and policy deadlines only (the scenario
    and replay sources feed the hot path from trio; their readings are handed over)."""
    control.started()
    while not control.closing:
        control.wait((), 1.0)


_frozen = False


def _freeze_start_up_objects() -> None:
    """Once per process, at the first stop thread's start: a full collection walks every
    tracked object while it holds the GIL (with the DBC's and the libraries' objects, 25-65
    ms in `bench signal`, during which no frame is decided). What exists by then (modules,
    the DBC, the configuration) lives as long as the process; moved out of the collector's
    reach (`gc.freeze`), later collections walk only what came after."""
    global _frozen
    if not _frozen:
        _frozen = True
        gc.freeze()


async def run_stop_thread(
    hotpath: HotPath,
    body: Body,
    *,
    name: str = "parkmesh-stop",
    priority: int = 0,
    task_status: trio.TaskStatus[StopThreadControl] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Run `body` on a new stop thread owning `hotpath`, until cancelled.

    `task_status.started(control)` comes once the body calls ``control.started()``.
    Raises: whatever the body raised (a bug: sources report their failures to the policy).
    Cancellation: the body is asked to end (`StopThreadControl.close`) and the thread is
    joined, shielded, for at most `CLOSE_TIMEOUT_S`.
    """
    token = trio.lowlevel.current_trio_token()
    started, finished = trio.Event(), trio.Event()
    control = StopThreadControl(hotpath, token, started.set)
    errors: list[BaseException] = []

    def main() -> None:
        control.scheduling = enter_realtime(priority)
        hotpath.attach(token)
        try:
            body(control)
        except BaseException as exc:
            errors.append(exc)
        finally:
            if errors or not control.closing:
                # Nobody reads the car any more: unknown, so unsafe. Written before the hot
                # path is let go, so no job can start in between.
                hotpath.stopper.stop_all_nowait(StopLevel.HARD, StopReason.VEHICLE)
                LOG.error(
                    "the stop thread %s ended unasked%s: workers stopped",
                    name,
                    f" ({type(errors[0]).__name__}: {errors[0]})" if errors else "",
                )
            hotpath.detach()
            with contextlib.suppress(trio.RunFinishedError):
                token.run_sync_soon(finished.set)

    previous = sys.getswitchinterval()
    sys.setswitchinterval(min(previous, SWITCH_INTERVAL_S))
    _freeze_start_up_objects()
    thread = threading.Thread(target=main, name=name, daemon=True)
    thread.start()
    try:
        async with trio.open_nursery() as nursery:

            async def wait_started() -> None:
                await started.wait()
                task_status.started(control)

            nursery.start_soon(wait_started)
            await finished.wait()
            nursery.cancel_scope.cancel()
        if errors:
            raise errors[0]
    finally:
        control.close()
        with trio.CancelScope(shield=True), trio.move_on_after(CLOSE_TIMEOUT_S):
            await finished.wait()
        if not finished.is_set():
            LOG.error("the stop thread %s did not end within %.0f s", name, CLOSE_TIMEOUT_S)
        sys.setswitchinterval(previous)


class StopThreads:
    """`run_stop_thread` bound to one hot path: what the daemon hands the sources that read on
    their own thread (CAN, DBus) as their `supervisor.vehicle.sink.ReaderThread`.

    Calling it runs the body on a new stop thread owning the hot path, as `run_stop_thread`
    does (same errors, same cancellation).
    """

    def __init__(self, hotpath: HotPath) -> None:
        self.hotpath = hotpath

    async def __call__(
        self,
        body: Body,
        *,
        name: str = "parkmesh-stop",
        priority: int = 0,
        task_status: trio.TaskStatus[Any] = trio.TASK_STATUS_IGNORED,
    ) -> None:
        """Run `body` on a stop thread called `name` at `priority` (`run_stop_thread`)."""
        await run_stop_thread(
            self.hotpath, body, name=name, priority=priority, task_status=task_status
        )
