"""A change notice for trio tasks that wait on state written elsewhere, from any thread.

The pool's tasks wait on conditions that trio cannot see change: the board's level, written by
the daemon's stop thread, and the slots' workers, replaced by the pool's own tasks. Instead of
polling them, each writer calls `Wakeup.notify_nowait` after its write and each waiting task
calls `Wakeup.wait_until(condition)`, which looks at the condition again after every notice.

A notice from another thread hops to the trio thread with ``TrioToken.run_sync_soon`` (no
trio object is touched off the trio thread); notices that come while one is on its way are
folded into it. A condition is read, and the task parked on the current event, in one step,
so a write between the two is never missed: its notice sets that very event.
"""

from __future__ import annotations

from collections.abc import Callable

import trio


class Wakeup:
    """Wakes the trio tasks waiting on a condition whenever a writer says it may have changed.

    `bind` on the trio thread first (the pool's `run`); before it and after `unbind`,
    `notify_nowait` does nothing (no task waits then).
    """

    def __init__(self) -> None:
        self._event = trio.Event()
        self._token: trio.lowlevel.TrioToken | None = None
        self._queued = False
        self.notices = 0  # notices delivered to the trio thread, for tests and statistics

    def bind(self) -> None:
        """Deliver notices to the calling trio run from now on."""
        self._token = trio.lowlevel.current_trio_token()

    def unbind(self) -> None:
        """Drop notices from now on (the run that waited ends)."""
        self._token = None

    def notify_nowait(self) -> None:
        """The condition may have changed (any thread; never blocks, never raises)."""
        token = self._token
        if token is None or self._queued:
            return
        self._queued = True
        try:
            token.run_sync_soon(self.notify)
        except trio.RunFinishedError:
            self._queued = False

    def notify(self) -> None:
        """The condition may have changed (trio thread): wake every waiting task now."""
        # Cleared before the wake-up: a write after this line queues a notice of its own, and
        # one before it is seen by the tasks woken here.
        self._queued = False
        self.notices += 1
        event, self._event = self._event, trio.Event()
        event.set()

    async def wait(self) -> None:
        """Return at the next notice. Cancellation: at any point, nothing changed."""
        await self._event.wait()

    async def wait_until(self, condition: Callable[[], bool]) -> None:
        """Return once `condition()` holds (looked at now and after each notice).

        Cancellation: at any point, nothing changed.
        """
        while not condition():
            await self._event.wait()
