"""The stop board: every worker's stop page, written together by the stop path.

The board lives beside the stop page because the pool and the stop path share it: the stop
thread writes it (``stop_all_nowait``), the trio thread adds and removes pages as workers come
and go. No lock is taken on the stop path: the set of pages is an immutable tuple replaced
whole on every change (one reference store), so the stop thread iterates the set as it was
when the write began, and a page closed meanwhile (its worker died) is skipped.
"""

from __future__ import annotations

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

    Hooks (the pool's: freezing busy CPU workers with SIGSTOP, waking its confirmer) run
    synchronously after every page is written, on the thread that wrote the stop, so they
    cannot delay the flag; they must not block either. Any thread may call
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

    def add(self, page: StopPage) -> None:
        """Include `page` in every stop from now on. A page added while the board is stopped
        starts stopped, so that a worker started during a hard stop cannot run."""
        # Publish first, then look at the last stop: a stop written concurrently either sees
        # the page in the tuple or has already recorded itself in `last` (it records first).
        self._pages = (*self._pages, page)
        last = self.last
        if last is not None and last.level != StopLevel.RUN:
            page.request_stop(last.level, last.reason)

    def remove(self, page: StopPage) -> None:
        """Leave `page` out of later stops (its worker is gone)."""
        self._pages = tuple(p for p in self._pages if p is not page)

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
        now_ns = time.monotonic_ns()
        self.last = StopRecord(now_ns, StopLevel.RUN, StopReason.NONE, len(self._pages))
        for page in self._pages:
            try:
                page.request_stop(StopLevel.RUN, StopReason.NONE, now_ns)
            except ValueError:
                continue
        if self.final:
            # A shutdown was written while this release ran: some of its pages may have been
            # set back to RUN after it. Write it again; it is final.
            self.stop_all_nowait(StopLevel.HARD, StopReason.SHUTDOWN)
            return
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
