"""What a vehicle source delivers to, and what one that reads on its own thread runs on.

The sources know only these protocols; the daemon hands them its hot path
(`supervisor.hotpath.HotPath` is a `ReadingSink`) and, to the sources that read on their own
thread (CAN, DBus), a `ReaderThread` that runs their blocking body on the stop thread owning
that hot path (`supervisor.preempt.stop_thread.StopThreads`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any, Protocol

import trio

from .state import SignalUpdate


class ReadingSink(Protocol):
    """Where a source's readings and its failures go.

    The calls are synchronous and never raise for vehicle data; a sink may act on a reading
    (write a stop) before returning. What they return is the sink's business.
    """

    def declare(self, path: str, max_age_s: float) -> None:
        """Expect `path`, stale after `max_age_s` seconds without a reading."""
        ...

    def feed(self, updates: Iterable[SignalUpdate], received_ns: int | None = None) -> object:
        """Readings from one frame or signal; `received_ns`: when it arrived (monotonic ns)."""
        ...

    def source_failed(self, name: str, why: str) -> object:
        """The source `name` stopped delivering, for the reason `why`."""
        ...

    def source_recovered(self, name: str) -> object:
        """The source `name` delivers again."""
        ...


class ReaderControl(Protocol):
    """What a body running on its reader thread uses: waiting, saying it serves, ending."""

    @property
    def closing(self) -> bool:
        """Whether the body is asked to end (it checks after each wait)."""
        ...

    def started(self) -> None:
        """Tell the trio side that the source serves (once; later calls do nothing)."""
        ...

    def wait(self, fds: Iterable[int], timeout: float) -> set[int]:
        """Wait up to `timeout` s for one of `fds` to be readable; returns those that are
        (possibly none: early when `closing` is set)."""
        ...


ReaderBody = Callable[[ReaderControl], None]


class ReaderThread(Protocol):
    """Runs a source's blocking body on a thread of its own until cancelled (a trio service).

    ``task_status.started`` comes once the body calls ``control.started()``. Raises what the
    body raised. Cancellation: the body is asked to end and the thread is joined.
    """

    async def __call__(
        self,
        body: ReaderBody,
        *,
        name: str,
        priority: int,
        task_status: trio.TaskStatus[Any] = trio.TASK_STATUS_IGNORED,
    ) -> None:
        """Run `body` on a thread called `name`, at real-time `priority` (0: normal)."""
        ...
