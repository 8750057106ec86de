"""Confirming a hard stop: each busy worker acknowledged on its page, or is frozen, or is late.

`wait_for_stops` runs in the `Confirmer` thread and polls every `POLL_S`, so the measured
latency is at most one poll interval above the truth; a millisecond trio sleep would add up to a
millisecond of error to a figure whose target is a few.
"""

from __future__ import annotations

import collections
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Final, Literal

import trio

if TYPE_CHECKING:
    from sandbox.handle import WorkerHandle

POLL_S: Final = 50e-6


@dataclass(frozen=True, slots=True)
class StopSample:
    """How one busy worker stopped: through its own ack, frozen, or killed at the deadline."""

    model: str
    latency_ms: float
    via: Literal["ack", "freeze", "kill"]


def wait_for_stops(handles: Sequence[WorkerHandle], deadline_s: float
                   ) -> dict[WorkerHandle, StopSample]:
    """Poll until every handle's stop is confirmed or the deadline passes (then ``kill``).

    A frozen worker is confirmed once all its threads are stopped; the pool then writes the
    acknowledgement on its page (time of confirmation), since the worker itself cannot.
    """
    pending = list(handles)
    results: dict[WorkerHandle, StopSample] = {}
    requested = {h: h.page.snapshot().requested_ns for h in pending}
    deadline_ns = max(requested.values(), default=0) + int(deadline_s * 1e9)
    while pending:
        now = time.monotonic_ns()
        for handle in list(pending):
            model = handle.spec.model
            try:
                snap = handle.page.snapshot()
            except ValueError:  # the worker died and its page was closed meanwhile
                results[handle] = StopSample(model, (now - requested[handle]) / 1e6, "kill")
                pending.remove(handle)
                continue
            if snap.acknowledged:
                latency = (snap.ack_ns - requested[handle]) / 1e6
                results[handle] = StopSample(model, latency, "ack")
            elif handle.frozen and handle.frozen_confirmed():
                now = time.monotonic_ns()
                handle.page.acknowledge(snap.generation, now)
                results[handle] = StopSample(model, (now - requested[handle]) / 1e6, "freeze")
            elif handle.returncode is not None:
                results[handle] = StopSample(model, (now - requested[handle]) / 1e6, "kill")
            else:
                continue
            pending.remove(handle)
        if pending and now > deadline_ns:
            for handle in pending:
                results[handle] = StopSample(handle.spec.model, (now - requested[handle]) / 1e6,
                                             "kill")
            break
        time.sleep(POLL_S)
    return results


class Confirmer:
    """A thread that confirms hard stops, woken synchronously from the hot path.

    `submit_nowait` (called right after the stop write, on the trio thread) only appends to a
    queue and sets a `threading.Event`: the thread starts polling within microseconds, without
    waiting for the trio scheduler or a thread hand-off. Results go back to the trio thread
    through `deliver`, run with ``TrioToken.run_sync_soon`` (it must not raise).
    """

    def __init__(self, deadline_s: float,
                 deliver: Callable[[dict[WorkerHandle, StopSample]], None]) -> None:
        self.deadline_s = deadline_s
        self._deliver = deliver
        self._token = trio.lowlevel.current_trio_token()
        self._wake = threading.Event()
        self._queue: collections.deque[list[WorkerHandle]] = collections.deque()
        self._closed = False
        self._thread = threading.Thread(target=self._loop, name="parkmesh-stop-confirmer",
                                        daemon=True)

    def start(self) -> None:
        """Start the thread."""
        self._thread.start()

    def submit_nowait(self, handles: Sequence[WorkerHandle]) -> None:
        """Confirm the stop of `handles` (synchronous, never blocks)."""
        self._queue.append(list(handles))
        self._wake.set()

    def close(self) -> None:
        """Let the thread end (it finishes the confirmation in progress, at most the deadline)."""
        self._closed = True
        self._wake.set()

    def _loop(self) -> None:
        while True:
            self._wake.wait()
            self._wake.clear()
            if self._closed:
                return
            while self._queue:
                results = wait_for_stops(self._queue.popleft(), self.deadline_s)
                try:
                    self._token.run_sync_soon(self._deliver, results)
                except trio.RunFinishedError:
                    return
