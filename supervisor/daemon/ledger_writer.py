"""The ledger writer: one thread, one sqlite connection for the daemon's whole life.

Every write (and the daemon's own reads of the ledger) runs in that thread, one at a time, in
the order asked; `write` returns only once its transaction has committed and raises what the
write raised. sqlite with ``synchronous=FULL`` waits for the disk, so none of it runs in the
trio thread, which shares the GIL with nothing heavier than this.

The writer keeps serving while a *lease* is held (a job is running: its row is still to
come) or writes are queued, even once it is cancelled, for at most `close_grace_s`; then it
refuses new writes at once (`WriterClosed`) and closes the connection after the writes
already queued.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import outcome
import trio

from supervisor.ledger import Ledger

LOG = logging.getLogger("parkmesh.ledger")

T = TypeVar("T")

# How long a cancelled writer keeps serving leases and queued writes, s. The daemon's shutdown
# waits for the desk to be idle within its own grace first; this is only for the job whose
# task is cancelled when that grace runs out (its row is one commit, milliseconds), and is
# short so that the daemon still exits within its grace + 1 s.
CLOSE_GRACE_S = 0.5


class WriterClosed(RuntimeError):
    """The writer is not running (not started yet, or stopped): nothing was written."""


@dataclass(frozen=True, slots=True)
class WriterStatistics:
    """Counters for status screens: writes committed, failed, waiting; leases held."""

    committed: int
    failed: int
    pending: int
    leases: int


@dataclass(slots=True)
class _Waiter:
    """One write's answer, delivered into the trio thread."""

    done: trio.Event
    result: outcome.Outcome[Any] | None = None


_Request = tuple[Callable[[Ledger], Any], Callable[[outcome.Outcome[Any]], None]] | None


class LedgerWriter:
    """The daemon's ledger connection as a trio service.

    Args:
        path: the ledger file (created, or migrated from an older version, when `run` opens
            it).
        close_grace_s: see the module docstring.
    """

    def __init__(self, path: Path, *, close_grace_s: float = CLOSE_GRACE_S) -> None:
        self.path = path
        self.close_grace_s = close_grace_s
        self._requests: queue.SimpleQueue[_Request] = queue.SimpleQueue()
        self._token: trio.lowlevel.TrioToken | None = None
        self._serving = False
        self._pending = 0
        self._leases = 0
        self._committed = 0
        self._failed = 0
        self._idle = trio.Event()
        self._idle.set()

    async def write(self, fn: Callable[[Ledger], T]) -> T:
        """Run `fn(ledger)` in the writer thread; returns its result once it has returned
        (each `Ledger` write method commits before it returns).

        Raises:
            WriterClosed: the writer is not serving (nothing was written).
            Exception: whatever `fn` raised (`LedgerError`, `sqlite3.Error`...); its
                transaction was rolled back.
        Cancellation: the write stays queued and may still commit; only the wait for it ends.
        """
        if not self._serving or self._token is None:
            raise WriterClosed("the ledger writer is not running")
        waiter = _Waiter(trio.Event())
        token = self._token

        def deliver(result: outcome.Outcome[Any]) -> None:
            _post(token, self._delivered, waiter, result)

        self._busy()
        self._pending += 1
        self._requests.put((fn, deliver))
        await waiter.done.wait()
        assert waiter.result is not None
        return waiter.result.unwrap()  # type: ignore[no-any-return]

    def _delivered(self, waiter: _Waiter, result: outcome.Outcome[Any]) -> None:
        waiter.result = result
        self._pending -= 1
        if isinstance(result, outcome.Error):
            self._failed += 1
        else:
            self._committed += 1
        waiter.done.set()
        self._maybe_idle()

    @contextmanager
    def lease(self) -> Iterator[None]:
        """Keep the writer serving while the block runs (a running job whose row is still to
        come), even once it is cancelled, for at most `close_grace_s`."""
        self._busy()
        self._leases += 1
        try:
            yield
        finally:
            self._leases -= 1
            self._maybe_idle()

    async def wait_idle(self) -> None:
        """Return once no lease is held and every queued write has been answered.

        Cancellation: only the wait ends.
        """
        while self._pending or self._leases:
            await self._idle.wait()

    def shield_bound_s(self) -> float:
        """How long a caller may wait, shielded, for its write: until its own deadline plus
        `close_grace_s` (none: for ever). Call it before entering the shield. A disk that
        hangs must not keep a stopping daemon from exiting."""
        left = trio.current_effective_deadline() - trio.current_time()
        return max(0.0, left) + self.close_grace_s

    def statistics(self) -> WriterStatistics:
        """A snapshot of the counters."""
        return WriterStatistics(self._committed, self._failed, self._pending, self._leases)

    def _busy(self) -> None:
        if self._idle.is_set():
            self._idle = trio.Event()

    def _maybe_idle(self) -> None:
        if not self._pending and not self._leases:
            self._idle.set()

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Open the ledger in the writer thread (creating or migrating the file), report
        started, and serve writes until cancelled.

        Raises:
            sqlite3.Error, LedgerError: the file cannot be opened or migrated (before
                ``started``).
        Cancellation: keeps serving while leases are held or writes are queued, for at most
        `close_grace_s` (shielded), then refuses new writes and closes after the queued ones.
        """
        self._token = trio.lowlevel.current_trio_token()
        opened = _Waiter(trio.Event())
        closed = trio.Event()
        token = self._token

        def answer(waiter: _Waiter, result: outcome.Outcome[Any]) -> None:
            waiter.result = result
            waiter.done.set()

        def report(waiter: _Waiter, result: outcome.Outcome[Any]) -> None:
            _post(token, answer, waiter, result)

        def serve() -> None:
            # The only thread that touches the connection: sqlite connections belong to the
            # thread that made them.
            try:
                ledger = Ledger(self.path)
            except BaseException as exc:
                report(opened, outcome.Error(exc))
                return
            report(opened, outcome.Value(None))
            try:
                while (request := self._requests.get()) is not None:
                    fn, deliver = request
                    deliver(outcome.capture(fn, ledger))
            finally:
                ledger.close()
                report(closed_waiter, outcome.Value(None))

        closed_waiter = _Waiter(closed)
        # A daemon thread: a disk that hangs must not keep the process from exiting.
        thread = threading.Thread(target=serve, name="parkmesh-ledger", daemon=True)
        thread.start()
        try:
            with trio.CancelScope(shield=True):
                # Opening may migrate an old file; a stop during it waits for the open.
                await opened.done.wait()
            assert opened.result is not None
            opened.result.unwrap()
            self._serving = True
            task_status.started()
            await trio.sleep_forever()
        finally:
            with trio.CancelScope(shield=True):
                if self._serving:
                    with trio.move_on_after(self.close_grace_s) as waited:
                        await self.wait_idle()
                    if waited.cancelled_caught:
                        LOG.error(
                            "the ledger writer stops with %d writes queued and %d jobs running",
                            self._pending,
                            self._leases,
                        )
                self._serving = False
                self._requests.put(None)
                if isinstance(opened.result, outcome.Value):
                    with trio.move_on_after(self.close_grace_s):
                        await closed.wait()


def _post(token: trio.lowlevel.TrioToken, fn: Callable[..., None], *args: Any) -> None:
    """Call `fn(*args)` in the trio thread soon; from the writer thread."""
    # The daemon may have finished (trio is gone): the write itself is done or rolled back.
    with suppress(trio.RunFinishedError):
        token.run_sync_soon(fn, *args)
