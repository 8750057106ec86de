"""The stop board: every worker's stop page, written together from the hot path."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Protocol

from sandbox.stop_page import StopLevel, StopPage, StopReason


class Stopper(Protocol):
    """What the hot path needs to stop the workers: one synchronous call, never awaiting."""

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


@dataclass(frozen=True, slots=True)
class StopRecord:
    """One stop the board wrote: when, how hard, why, and on how many pages."""

    written_ns: int
    level: StopLevel
    reason: StopReason
    pages: int


class PageBoard:
    """The set of stop pages of the live workers, plus hooks run right after each write.

    Hooks (for example freezing CPU workers with SIGSTOP) run synchronously after every page is
    written, so they cannot delay the flag; they must not block either.
    """

    def __init__(self) -> None:
        self._pages: list[StopPage] = []
        self._after_stop: list[Callable[[StopLevel], None]] = []
        self.last: StopRecord | None = None
        self.stops = 0
        self.hook_errors = 0

    def add(self, page: StopPage) -> None:
        """Include `page` in every stop from now on. A page added while the board is stopped
        starts stopped, so that a worker started during a hard stop cannot run."""
        if self.last is not None and self.last.level != StopLevel.RUN:
            page.request_stop(self.last.level, self.last.reason)
        self._pages.append(page)

    def remove(self, page: StopPage) -> None:
        """Leave `page` out of later stops (its worker is gone)."""
        self._pages.remove(page)

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
        self._after_stop.append(hook)

    @property
    def pages(self) -> tuple[StopPage, ...]:
        """The registered pages."""
        return tuple(self._pages)

    def stop_all_nowait(self, level: StopLevel, reason: StopReason) -> int:
        """Write the request to every page, then run the hooks; returns the write time (ns)."""
        now_ns = time.monotonic_ns()
        for page in self._pages:
            page.request_stop(level, reason, now_ns)
        self.last = StopRecord(now_ns, level, reason, len(self._pages))
        self.stops += 1
        for hook in self._after_stop:
            # The flags are written; a failing hook (a signal to a worker that just died)
            # must not keep the others from running or the caller from finishing.
            try:
                hook(level)
            except Exception:
                self.hook_errors += 1
        return now_ns

    def release_all_nowait(self) -> None:
        """Set every page back to RUN."""
        now_ns = time.monotonic_ns()
        for page in self._pages:
            page.request_stop(StopLevel.RUN, StopReason.NONE, now_ns)
        self.last = StopRecord(now_ns, StopLevel.RUN, StopReason.NONE, len(self._pages))

    @property
    def releasable(self) -> bool:
        """Whether a stop that admission may lift is in force (a shutdown's is final)."""
        last = self.last
        return (last is not None and last.level != StopLevel.RUN
                and last.reason != StopReason.SHUTDOWN)

    def all_acknowledged(self) -> bool:
        """Whether every page acknowledged its latest request."""
        return all(page.snapshot().acknowledged for page in self._pages)
