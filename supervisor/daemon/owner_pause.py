"""The owner's pause: no compute now, until resumed or until a time (`OwnerPause`).

A pause is a soft stop of its own source ("pause") in the hot path's policy, so the workers
finish what they run and take nothing new, and ``why`` says "paused by the owner until 06:30".
A pause until a time ends by itself then: a timer task, started with
``trio.lowlevel.spawn_system_task`` so that a pause outlives the DBus call that set it, sleeps
until the time on the daemon's wall clock and lifts it. The timer is cancelled by `lift`, by
a later `pause`, or when the daemon's trio run ends; `state`'s check of the time also lifts a
pause whose time is past, should the timer be late.

With a `path` (in the daemon's state directory) the pause in force is kept in a small JSON file
and `restore` takes it up again after a restart. The file is written without fsync: it is to
survive a restart of the daemon, not a power loss (a car that loses power stops anyway).
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
import os
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import trio
import trio.lowlevel

LOG = logging.getLogger("parkmesh")

# The policy's soft-stop source of the owner's pause.
SOURCE = "pause"
# The file in the daemon's state directory that keeps the pause over a restart.
PAUSE_FILE = "owner-pause.json"
# A pause until a time further than this from now names the date as well as the time (an
# HH:MM within the next day is unambiguous).
NEXT_DAY_S = 24 * 3600


def pause_reason(until_unix: float, now: float | None = None) -> str:
    """The pause's reason as ``why`` shows it: "paused by the owner" and, for a timed pause,
    "until 06:30" in local time (with the date when it is more than a day after `now`)."""
    if until_unix == 0:
        return "paused by the owner until resumed"
    local = time.localtime(until_unix)
    shown = time.strftime("%H:%M", local)
    if until_unix - (time.time() if now is None else now) > NEXT_DAY_S:
        shown = time.strftime("%Y-%m-%d %H:%M", local)
    return f"paused by the owner until {shown}"


class OwnerPause:
    """The owner's pause over `set_soft_stop` (the hot path's); `wall` is the wall clock the
    pause's time is on (a test's own); `path` the file that keeps it over a restart (None: in
    memory only)."""

    def __init__(
        self,
        set_soft_stop: Callable[[str, Sequence[str]], object],
        *,
        wall: Callable[[], float] = time.time,
        path: Path | None = None,
    ) -> None:
        self._set_soft_stop = set_soft_stop
        self._wall = wall
        self.path = path
        # None: not paused; 0: until resumed; else the wall time it ends at.
        self._until: float | None = None
        self._timer: trio.CancelScope | None = None

    @property
    def until(self) -> float | None:
        """None when not paused, 0 for a pause until resumed, else when it ends (unix time).
        A pause whose time is past is lifted on reading."""
        if self._until and self._until <= self._wall():
            self.lift(reason="its time came")
        return self._until

    def pause(self, until_unix: float) -> float:
        """Pause compute until `until_unix` (unix time; 0: until `lift`); replaces any pause in
        force. Returns `until_unix`. Must be called from the daemon's trio run (the timer is a
        task of it).

        Raises:
            ValueError: `until_unix` is not finite, negative, or not in the future.
        """
        if not math.isfinite(until_unix) or until_unix < 0:
            raise ValueError(f"until_unix: must be 0 or a unix time, not {until_unix!r}")
        left = until_unix - self._wall()
        if until_unix and left <= 0:
            raise ValueError(f"until_unix: {until_unix:.0f} is not in the future")
        self._cancel_timer()
        self._until = until_unix
        reason = pause_reason(until_unix, self._wall())
        self._set_soft_stop(SOURCE, [reason])
        if until_unix:
            scope = trio.CancelScope(deadline=trio.current_time() + left)
            self._timer = scope
            trio.lowlevel.spawn_system_task(self._expire, scope, until_unix, name="owner-pause")
        self._keep(until_unix)
        LOG.info("%s", reason)
        return until_unix

    def restore(self) -> float | None:
        """Take up the pause `path` keeps, unless its time is past; returns it (None: none).
        Call from the daemon's trio run, once, before the API serves. A file that cannot be
        read or makes no sense is logged and removed (the node then is not paused).
        """
        if self.path is None:
            return None
        try:
            until = float(json.loads(self.path.read_text(encoding="utf-8"))["until_unix"])
            if until and until <= self._wall():
                LOG.info("owner's pause until %.0f ended while the daemon was down", until)
                self._keep(None)
                return None
            return self.pause(until)
        except FileNotFoundError:
            return None
        except (OSError, ValueError, KeyError, TypeError) as exc:
            LOG.warning("owner's pause in %s not taken up: %s", self.path, exc)
            self._keep(None)
            return None

    def lift(self, *, reason: str = "resumed by the owner") -> bool:
        """End the pause in force; False when there was none."""
        self._cancel_timer()
        if self._until is None:
            return False
        self._until = None
        self._set_soft_stop(SOURCE, [])
        self._keep(None)
        LOG.info("pause lifted: %s", reason)
        return True

    def _keep(self, until_unix: float | None) -> None:
        # A few bytes, replaced whole (rename), so a crash leaves the old pause or the new.
        if self.path is None:
            return
        try:
            if until_unix is None:
                with contextlib.suppress(FileNotFoundError):
                    self.path.unlink()
                return
            partial = self.path.with_name(self.path.name + ".partial")
            partial.write_text(json.dumps({"until_unix": until_unix}), encoding="utf-8")
            os.replace(partial, self.path)
        except OSError as exc:  # the pause holds for this run all the same
            LOG.warning("owner's pause not kept in %s: %s", self.path, exc)

    def _cancel_timer(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    async def _expire(self, scope: trio.CancelScope, until_unix: float) -> None:
        # The scope's deadline is the pause's end: `sleep_forever` returns at it, or at once
        # when `lift` or a later pause cancels the scope (then `_timer` is another or None).
        with scope:
            await trio.sleep_forever()
        if scope is self._timer and self._until == until_unix:
            self._timer = None
            self.lift(reason="its time came")
