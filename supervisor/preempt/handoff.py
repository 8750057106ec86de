"""Handing calls to the stop thread: the only way other threads change what it decides on.

The stop thread owns the vehicle state and the policy while it runs; nothing it reads on the
stop path is guarded by a lock. A change from another thread (the trio loop sets a soft stop,
marks a job busy, confirms a stop) is queued here and the stop thread is woken through an
eventfd that it polls beside its source; it runs the queued calls before its next evaluation.
The calling thread waits for the result (tens of microseconds: the stop thread runs at
real-time priority and evaluating is cheap), so a change "takes effect at once" for the caller
too: `hotpath.decision` already reflects it when the call returns.

Without an owner (no stop thread: the synchronous cores in tests, a daemon whose source runs
inline) every call runs at once on the calling thread.
"""

from __future__ import annotations

import collections
import contextlib
import logging
import os
import threading
from collections.abc import Callable
from typing import Any, Final, Generic, TypeVar

T = TypeVar("T")

LOG = logging.getLogger(__name__)

# How long a caller waits for the stop thread before it gives up waiting (the call stays
# queued and runs at the stop thread's next wake-up). Only a stop thread stuck in a read that
# cannot be woken would take this long.
WAIT_S: Final = 0.25


class _Call(Generic[T]):
    __slots__ = ("done", "error", "fn", "result")

    def __init__(self, fn: Callable[[], T]) -> None:
        self.fn = fn
        self.done = threading.Event()
        self.result: T | None = None
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            self.result = self.fn()
        except BaseException as exc:  # handed back to the caller, raised there
            self.error = exc
        finally:
            self.done.set()


class Handoff:
    """A queue of calls for the owning thread, and the eventfd that wakes it."""

    def __init__(self) -> None:
        self._owner: int | None = None
        self._queue: collections.deque[_Call[Any]] = collections.deque()
        self._wake_fd = os.eventfd(0, os.EFD_NONBLOCK | os.EFD_CLOEXEC)

    @property
    def wake_fd(self) -> int:
        """The descriptor the owner polls; readable when calls are queued."""
        return self._wake_fd

    @property
    def owned(self) -> bool:
        """Whether a thread owns the hot path now."""
        return self._owner is not None

    def foreign(self) -> bool:
        """Whether the calling thread must hand its calls over (another thread owns)."""
        owner = self._owner
        return owner is not None and owner != threading.get_ident()

    def own(self) -> None:
        """The calling thread becomes the owner (the stop thread, at its start)."""
        self._owner = threading.get_ident()

    def disown(self) -> None:
        """The owner leaves; calls queued meanwhile run now, on its thread, for the last time."""
        self._owner = None
        self.run_pending_nowait()

    def wake_nowait(self) -> None:
        """Wake the owner's poll (also used to make it notice that it should end)."""
        os.eventfd_write(self._wake_fd, 1)

    def clear_wake_nowait(self) -> None:
        """Consume the wake-up (the owner, after its poll returned)."""
        with contextlib.suppress(BlockingIOError):
            os.eventfd_read(self._wake_fd)

    def run_pending_nowait(self) -> None:
        """Run every queued call, in order (the owner, before each evaluation)."""
        queue = self._queue
        while queue:
            try:
                call = queue.popleft()
            except IndexError:
                return
            call.run()

    def call(self, fn: Callable[[], T], default: Callable[[], T]) -> T:
        """Run `fn` on the owner (at once when there is none, or when called by it).

        Returns `fn`'s result, or `default()` if the owner did not run it within `WAIT_S`
        (it still will). Raises whatever `fn` raised.
        """
        if not self.foreign():
            return fn()
        call = _Call(fn)
        self._queue.append(call)
        self.wake_nowait()
        if not call.done.wait(WAIT_S):
            if self._owner is None:
                # The owner left before it saw the call: take it back and run it here.
                try:
                    self._queue.remove(call)
                except ValueError:
                    call.done.wait()
                else:
                    call.run()
            else:
                return default()
        if call.error is not None:
            raise call.error
        result: T = call.result  # type: ignore[assignment]  # set by a run without error
        return result

    def call_soon(self, fn: Callable[[], object]) -> None:
        """Queue `fn` for the owner and return at once (run it now when there is no owner or
        the owner calls). For calls whose result nobody waits for (the guardian's ``free``):
        they keep their order with the owner's own writes, and the caller, the trio loop,
        does not wait for a stop thread that may itself be waiting for the GIL (up to tens of
        milliseconds, `bench stop-under-load`'s longest loop step). What `fn` raises is
        logged. A call queued as the owner leaves runs here."""
        if not self.foreign():
            _logged(fn)
            return
        self._queue.append(_Call(lambda: _logged(fn)))
        self.wake_nowait()
        if self._owner is None:  # it left meanwhile, perhaps before it saw the call
            self.run_pending_nowait()

    def close(self) -> None:
        """Close the eventfd."""
        os.close(self._wake_fd)


def _logged(fn: Callable[[], object]) -> None:
    try:
        fn()
    except Exception:
        LOG.exception("call handed to the stop thread failed: %r", fn)
