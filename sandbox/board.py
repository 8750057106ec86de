"""The stop board: every worker's stop page, written together by the stop path.

The board lives beside the stop page because the pool and the stop path share it: the stop
thread writes it (``stop_all_nowait``), the trio thread adds and removes pages as workers come
and go. No lock is taken on the stop path: the set of pages is an immutable tuple replaced
whole on every change (one reference store), so the stop thread iterates the set as it was
when the write began, and a page closed meanwhile (its worker died) is skipped.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Protocol

from sandbox.stop_page import StopLevel, StopPage, StopReason


class Stopper(Protocol):
    """What the stop path needs to stop the workers: one synchronous call, never awaiting."""

    def stop_all_nowait(self, level: StopLevel, reason: StopReason) -> int:
        """Write a stop request to every worker's page; returns the time written (monotonic ns)."""
        ...

    def release_all_nowait(self) -> None:
        """Let every worker run again."""
        ...

    @property
    def releasable(self) -> bool:
        """Whether a stop that admission may lift is in force (a shutdown's is final)."""
        ...


class Interlock(Protocol):
    """A second writer of hard stops in another process (the daemon's guardian): while it
    holds one, the board releases nothing (`resync_nowait` when it lets go)."""

    def holding(self) -> bool:
        """Whether the other writer holds a hard stop now (one load of shared memory)."""
        ...


class PageObserver(Protocol):
    """Told about the pages as workers come and go (on the pool's thread)."""

    def page_added(self, page: StopPage) -> None:
        """`page` is on the board."""
        ...

    def page_pid(self, page: StopPage, pid: int, freeze: bool) -> None:
        """The worker of `page` runs as `pid`; `freeze`: it is stopped with SIGSTOP."""
        ...

    def page_removed(self, page: StopPage) -> None:
        """`page` left the board (its worker is gone)."""
        ...


LOG = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class StopRecord:
    """One stop the board wrote: when, how hard, why, and on how many pages."""

    written_ns: int
    level: StopLevel
    reason: StopReason
    pages: int


class PageBoard:
    """The set of stop pages of the live workers, plus hooks run right after each write.

    Hooks (the pool's: freezing busy CPU workers with SIGSTOP, waking its confirmer, then
    noticing its trio tasks through ``TrioToken.run_sync_soon``) run synchronously after every
    page is written, on the thread that wrote the stop, so they cannot delay the flag; they
    must not block either. Every change of `level` is followed by the hooks of one kind or the
    other, so a hook is all a waiter needs to hear of it. Any thread may call
    `stop_all_nowait`; `add`, `remove` and `register` are for one thread at a time (the pool's).
    """

    def __init__(self) -> None:
        self._pages: tuple[StopPage, ...] = ()
        self._after_stop: tuple[Callable[[StopLevel], None], ...] = ()
        self._after_release: tuple[Callable[[], None], ...] = ()
        self.last: StopRecord | None = None
        self.stops = 0
        self.hook_errors = 0
        # Set by the first shutdown stop, never cleared: from then on no release lifts it.
        self._final = False
        self._interlock: Interlock | None = None
        self._observers: tuple[PageObserver, ...] = ()
        self.held_releases = 0  # releases not done because the interlock held a stop
        self._release_held = False  # the latest release was held back: `resync_nowait` does it

    def set_interlock(self, interlock: Interlock | None) -> None:
        """Coordinate with another writer of hard stops (see `Interlock`)."""
        self._interlock = interlock

    def add_observer(self, observer: PageObserver) -> None:
        """Tell `observer` about pages from now on (pages already here are not replayed)."""
        self._observers = (*self._observers, observer)

    def note_pid(self, page: StopPage, pid: int, freeze: bool) -> None:
        """The worker of `page` runs as `pid` (the pool, once it is spawned)."""
        for observer in self._observers:
            observer.page_pid(page, pid, freeze)

    def add(self, page: StopPage) -> None:
        """Include `page` in every stop from now on. A page added while the board is stopped
        starts stopped, so that a worker started during a hard stop cannot run."""
        # Publish first, then look at the last stop: a stop written concurrently either sees
        # the page in the tuple or has already recorded itself in `last` (it records first).
        self._pages = (*self._pages, page)
        last = self.last
        if last is not None and last.level != StopLevel.RUN:
            page.request_stop(last.level, last.reason)
        for observer in self._observers:
            observer.page_added(page)

    def remove(self, page: StopPage) -> None:
        """Leave `page` out of later stops (its worker is gone)."""
        self._pages = tuple(p for p in self._pages if p is not page)
        for observer in self._observers:
            observer.page_removed(page)

    @contextmanager
    def register(self, page: StopPage) -> Iterator[StopPage]:
        """`add` `page` for the duration of the block."""
        self.add(page)
        try:
            yield page
        finally:
            self.remove(page)

    def add_after_stop(self, hook: Callable[[StopLevel], None]) -> None:
        """Run `hook(level)` right after every stop write (must not block)."""
        self._after_stop = (*self._after_stop, hook)

    def add_after_release(self, hook: Callable[[], None]) -> None:
        """Run `hook()` right after every release (the pool thaws frozen workers; no block)."""
        self._after_release = (*self._after_release, hook)

    @property
    def pages(self) -> tuple[StopPage, ...]:
        """The registered pages."""
        return self._pages

    def stop_all_nowait(self, level: StopLevel, reason: StopReason) -> int:
        """Write the request to every page, then run the hooks; returns the write time (ns).

        Never raises for a page whose worker died meanwhile (its page is closed) or for a
        failing hook (counted in `hook_errors`).
        """
        now_ns = time.monotonic_ns()
        if reason == StopReason.SHUTDOWN:
            self._final = True  # before the pages: see `release_all_nowait`
        elif self._final:
            # A later stop (the car, a stall) must not replace the shutdown's record, which
            # is what keeps every release away.
            level, reason = StopLevel.HARD, StopReason.SHUTDOWN
        # Record first, then take the pages: see `add`.
        self._release_held = False
        self.last = StopRecord(now_ns, level, reason, len(self._pages))
        for page in self._pages:
            try:
                page.request_stop(level, reason, now_ns)
            except ValueError:  # unmapped: the pool closed the page of a worker that died
                continue
        self.stops += 1
        for hook in self._after_stop:
            # The flags are written; a failing hook (a signal to a worker that just died)
            # must not keep the others from running or the caller from finishing.
            try:
                hook(level)
            except Exception:
                self.hook_errors += 1
                LOG.exception("after-stop hook %r failed", hook)
        return now_ns

    def release_all_nowait(self) -> None:
        """Set every page back to RUN, then run the after-release hooks. Does nothing once a
        shutdown stop was written (from any thread, also while this release runs)."""
        if self._final:
            return
        interlock = self._interlock
        if interlock is not None and interlock.holding():
            # The guardian holds a hard stop (it saw the car unsafe, perhaps before this
            # process did): nothing runs until it lets go and this release is asked again.
            self.held_releases += 1
            self._release_held = True
            return
        now_ns = time.monotonic_ns()
        self.last = StopRecord(now_ns, StopLevel.RUN, StopReason.NONE, len(self._pages))
        for page in self._pages:
            try:
                page.request_stop(StopLevel.RUN, StopReason.NONE, now_ns)
            except ValueError:
                continue
        if self._held_again(now_ns):
            return
        if self.final:
            # A shutdown was written while this release ran: some of its pages may have been
            # set back to RUN after it. Write it again; it is final.
            self.stop_all_nowait(StopLevel.HARD, StopReason.SHUTDOWN)
            return
        self._run_after_release()

    def resync_nowait(self) -> None:
        """The other writer (`Interlock`) let go: put this board's own level back on every
        page. A release it held back is done now; a hard stop of this board's own stays (its
        release comes later); otherwise the pages get this board's level and the
        after-release hooks run (the pool continues every frozen worker). On the stop
        thread."""
        last = self.last
        if last is None or last.level == StopLevel.RUN or self._release_held:
            self._release_held = False
            self.release_all_nowait()
        elif last.level == StopLevel.SOFT:
            interlock = self._interlock
            if interlock is not None and interlock.holding():
                # Held again since its "free": its next one resyncs.
                return
            now_ns = time.monotonic_ns()
            for page in self._pages:
                with contextlib.suppress(ValueError):
                    page.request_stop(StopLevel.SOFT, last.reason, now_ns)
            if not self._held_again(now_ns):
                self._run_after_release()

    def _held_again(self, now_ns: int) -> bool:
        """After pages were lowered: whether the guardian stopped meanwhile. Its stop stands
        (it writes its hold before its pages, so one of the two sees the other): HARD goes
        back on every page, and the after-release hooks do not run (they would continue the
        workers it froze); its next "free" resyncs (`resync_nowait`)."""
        interlock = self._interlock
        if interlock is None or not interlock.holding():
            return False
        for page in self._pages:
            with contextlib.suppress(ValueError):
                page.request_stop(StopLevel.HARD, StopReason.VEHICLE, now_ns)
        self.held_releases += 1
        self._release_held = True
        return True

    def _run_after_release(self) -> None:
        for hook in self._after_release:
            try:
                hook()
            except Exception:
                self.hook_errors += 1
                LOG.exception("after-release hook %r failed", hook)

    def level(self) -> StopLevel:
        """The level of the latest write (RUN before any)."""
        last = self.last
        return last.level if last is not None else StopLevel.RUN

    @property
    def final(self) -> bool:
        """Whether a shutdown stop was written: no release lifts it any more."""
        return self._final

    @property
    def releasable(self) -> bool:
        """Whether a stop that admission may lift is in force (a shutdown's is final)."""
        last = self.last
        return (
            last is not None and last.level != StopLevel.RUN and last.reason != StopReason.SHUTDOWN
        )

    def all_acknowledged(self) -> bool:
        """Whether every page acknowledged its latest request."""
        return all(page.snapshot().acknowledged for page in self._pages)
