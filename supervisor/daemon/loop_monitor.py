"""How busy the trio loop is: its longest task step and how late its wake-ups are.

The daemon's loop must stay responsive: a door frame, a DBus call or a worker's reply waits
behind whatever task step is running, however short the stop path itself is. `LoopMonitor` is
a `trio.abc.Instrument` that times every task step (``before_task_step``/``after_task_step``
with `time.perf_counter`) and a service whose task sleeps for `period_s` at a time and records
how late each wake-up is (the loop's lag: a long step, or a thread holding the GIL, delays every
task's wake-up by as much). While the loop is idle the lag task sleeps `idle_period_s` instead,
so that an idle daemon does not wake for its own monitor.

Figures are kept since start and for the last complete window of `window_s` seconds, so that
``parkmesh status`` and the TUI show both the worst ever and what is happening now. The
instrument's per-step cost is two clock reads and a comparison: it allocates nothing but the
floats of the clock (no per-step lists, dicts or counters).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import trio

# Seconds between the lag task's wake-ups: short enough to see a 10 ms stall, long enough that
# the task itself is not a load (one step per period).
LAG_PERIOD_S = 0.05
# While the loop is idle (a parked car, nothing served) the lag task looks once a second: an
# idle loop has no lag to see, and the daemon should not wake 20 times a second for nothing.
IDLE_LAG_PERIOD_S = 1.0
# Other tasks' steps per second above which the loop counts as busy (an idle daemon's timers
# take a handful; jobs, DBus clients or uplink traffic take hundreds).
BUSY_STEPS_PER_S = 20.0
# Seconds of one reporting window ("now" in the status).
WINDOW_S = 10.0


@dataclass(frozen=True, slots=True)
class LoopStatistics:
    """The loop's figures, in milliseconds.

    Attributes:
        running: whether the monitor is installed now.
        longest_step_ms: the longest task step since start.
        longest_step_task: the name of the task that took it.
        window_longest_step_ms: the longest step in the last complete window.
        window_longest_step_task: the task that took it.
        lag_ms: how late the latest wake-up of the lag task was.
        max_lag_ms: the latest wake-up's worst since start.
        window_max_lag_ms: the worst in the last complete window.
        window_s: the window's length, in seconds.
        samples: wake-ups measured since start.
        window_wakeups_per_s: how often the loop woke from its I/O wait in the last complete
            window (its own lag task included: 1 / `period_s`), per second.
    """

    running: bool
    longest_step_ms: float
    longest_step_task: str
    window_longest_step_ms: float
    window_longest_step_task: str
    lag_ms: float
    max_lag_ms: float
    window_max_lag_ms: float
    window_s: float
    samples: int
    window_wakeups_per_s: float = 0.0

    def to_json(self) -> dict[str, Any]:
        """The figures as JSON-ready data (``parkmesh status --json``, ``LoopJson``)."""
        return {
            "running": self.running,
            "longest_step_ms": round(self.longest_step_ms, 3),
            "longest_step_task": self.longest_step_task,
            "window_longest_step_ms": round(self.window_longest_step_ms, 3),
            "window_longest_step_task": self.window_longest_step_task,
            "lag_ms": round(self.lag_ms, 3),
            "max_lag_ms": round(self.max_lag_ms, 3),
            "window_max_lag_ms": round(self.window_max_lag_ms, 3),
            "window_s": self.window_s,
            "samples": self.samples,
            "window_wakeups_per_s": round(self.window_wakeups_per_s, 2),
        }


class LoopMonitor(trio.abc.Instrument):
    """Times the loop's task steps and wake-ups; `run` installs it for the daemon's life.

    Only the loop's thread calls the hooks and `run`'s task, so no lock is needed; `statistics`
    is read on the loop too (the API's snapshot).
    """

    def __init__(
        self,
        *,
        period_s: float = LAG_PERIOD_S,
        idle_period_s: float | None = None,
        window_s: float = WINDOW_S,
        step_clock: Callable[[], float] = time.perf_counter,
    ) -> None:
        """`step_clock` times the steps: wall time by default (what every task waiting on
        the loop experiences); `time.thread_time` counts only the loop thread's own CPU
        time, which leaves out the OS scheduling other processes and waits for the GIL (a
        test of what the loop itself computes, on a shared machine).

        `idle_period_s`: the lag task's period while the other tasks step less than
        `BUSY_STEPS_PER_S` times a second (None: `period_s` always). Long steps are timed
        whatever the period; only the lag is sampled less often while idle."""
        self.period_s = period_s
        self.idle_period_s = period_s if idle_period_s is None else idle_period_s
        self._steps = 0  # task steps since the lag task's last wake-up (its own included)
        self._clock = step_clock
        self.window_s = window_s
        self._running = False
        self._step_started = 0.0
        self._longest = 0.0
        self._longest_task = ""
        self._window_longest = 0.0
        self._window_task = ""
        self._current_longest = 0.0  # the window being filled
        self._current_task = ""
        self._lag = 0.0
        self._max_lag = 0.0
        self._window_max_lag = 0.0
        self._current_max_lag = 0.0
        self._samples = 0
        self._closed_windows = 0
        self._wakeups = 0  # returns from a blocking I/O wait in the window being filled
        self._window_wakeups = 0

    # -- the instrument (called by trio for every task step) ------------------------------------

    def after_io_wait(self, timeout: float) -> None:
        # A wait with a timeout of 0 polls between runnable tasks: only a real sleep counts.
        if timeout > 0:
            self._wakeups += 1

    def before_task_step(self, task: trio.lowlevel.Task) -> None:
        self._step_started = self._clock()

    def after_task_step(self, task: trio.lowlevel.Task) -> None:
        self._steps += 1
        step = self._clock() - self._step_started
        if step > self._current_longest:
            # Only a new maximum stores anything: a reference to the task's existing name.
            self._current_longest = step
            self._current_task = task.name
            if step > self._longest:
                self._longest = step
                self._longest_task = task.name

    # -- the lag task ---------------------------------------------------------------------------

    async def run(
        self, *, task_status: trio.TaskStatus[LoopMonitor] = trio.TASK_STATUS_IGNORED
    ) -> None:
        """Install the instrument and measure the loop's lag until cancelled.

        `task_status.started(self)` once the instrument is installed.

        Cancellation: the instrument is removed and the task ends; the figures stay readable.
        """
        # This very step ends with an `after_task_step` whose `before_task_step` came before
        # the instrument was installed: time it from here.
        self._step_started = self._clock()
        trio.lowlevel.add_instrument(self)
        self._running = True
        try:
            task_status.started(self)
            window_end = trio.current_time() + self.window_s
            period = self.period_s
            while True:
                # perf_counter, as the steps: trio's clock may be a test's autojump clock.
                due = time.perf_counter() + period
                self._steps = 0
                await trio.sleep(period)
                self.record_lag(max(0.0, time.perf_counter() - due))
                # Its own wake-up is one of the steps counted.
                busy = (self._steps - 1) / period >= BUSY_STEPS_PER_S
                period = self.period_s if busy else self.idle_period_s
                if trio.current_time() >= window_end:
                    window_end = trio.current_time() + self.window_s
                    self.roll_window()
        finally:
            self._running = False
            trio.lowlevel.remove_instrument(self)

    def record_lag(self, lag_s: float) -> None:
        """One wake-up that came `lag_s` seconds late."""
        self._lag = lag_s
        self._samples += 1
        self._current_max_lag = max(self._current_max_lag, lag_s)
        self._max_lag = max(self._max_lag, lag_s)

    def roll_window(self) -> None:
        """Close the current window: its figures become the reported "last window"."""
        self._window_longest, self._window_task = self._current_longest, self._current_task
        self._window_max_lag = self._current_max_lag
        self._window_wakeups, self._wakeups = self._wakeups, 0
        self._current_longest, self._current_task, self._current_max_lag = 0.0, "", 0.0
        self._closed_windows += 1

    def statistics(self) -> LoopStatistics:
        """The figures now. Before the first window closes, the window's figures are those of
        the window being filled."""
        closed = self._closed_windows > 0
        longest_w = self._window_longest if closed else self._current_longest
        task_w = self._window_task if closed else self._current_task
        lag_w = self._window_max_lag if closed else self._current_max_lag
        wakeups_w = self._window_wakeups if closed else self._wakeups
        return LoopStatistics(
            running=self._running,
            longest_step_ms=self._longest * 1000,
            longest_step_task=self._longest_task,
            window_longest_step_ms=longest_w * 1000,
            window_longest_step_task=task_w,
            lag_ms=self._lag * 1000,
            max_lag_ms=self._max_lag * 1000,
            window_max_lag_ms=lag_w * 1000,
            window_s=self.window_s,
            samples=self._samples,
            window_wakeups_per_s=wakeups_w / self.window_s,
        )
