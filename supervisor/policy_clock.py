"""The policy clock: re-evaluates the policy when time alone changes the answer.

Readings arrive with frames, but a signal going stale and the settle timer running out are
events of the clock. `PolicyClock.next_deadline` says when the earliest such moment is; the
stop thread (`supervisor.preempt.stop_thread`) waits on its source no longer than that and
ticks the hot path itself, so a stale signal stops work at its maximum age whatever the trio
loop is doing. The trio service `PolicyClock.run` ticks only a hot path that no stop thread
owns (a source run inline, the synchronous tests).
"""

from __future__ import annotations

import logging

import trio

from sandbox.stop_page import StopLevel, StopReason

from .hotpath import HotPath

LOG = logging.getLogger("parkmesh")

# Upper bound on one sleep: newly declared signals and soft-stop changes are picked up within it
# (a hand-over wakes the stop thread at once). Twice a second: an idle daemon wakes for little.
MAX_SLEEP_S = 0.5
# A stop thread that has not come round for this long (it does every MAX_SLEEP_S at most) is
# wedged or dead: the workers are stopped, as for a source that fails. The loop looks every
# MAX_SLEEP_S, so a stall is seen within STALL_S + MAX_SLEEP_S.
STALL_S = 1.0
# Wake a hair after the deadline, so that the signal is strictly older than its maximum age.
EPSILON_S = 0.0005


class PolicyClock:
    """A trio service that ticks `hotpath` at staleness and settle deadlines.

    Deadlines are computed on the hot path's clock and slept as durations, so the hot path may
    use time.monotonic while trio runs its own (possibly mock) clock.

    Cancellation: the service just stops ticking.
    """

    def __init__(self, hotpath: HotPath) -> None:
        self.hotpath = hotpath

    def next_deadline(self, now: float) -> float:
        """The next moment the decision may change without a new reading."""
        deadline = now + MAX_SLEEP_S
        expiry = self.hotpath.state.next_expiry(now)
        if expiry is not None:
            deadline = min(deadline, expiry + EPSILON_S)
        settle = self.hotpath.decision.settle_left_s
        if settle > 0:
            deadline = min(deadline, now + settle + EPSILON_S)
        return deadline

    def _check_stop_thread(self, stalled: bool) -> bool:
        """Stop every worker when the stop thread has not come round for `STALL_S` (it wakes
        at least every `MAX_SLEEP_S`): nobody is reading the car, which is unsafe. Returns
        whether it is stalled now. The thread lifts the stop itself once it decides again
        (the next evaluation that admits the car)."""
        age = self.hotpath.clock() - self.hotpath.heartbeat
        if age <= STALL_S:
            if stalled:
                LOG.warning("the stop thread is deciding again")
            return False
        if not stalled:
            LOG.error("the stop thread has not run for %.1f s: stopping every worker", age)
        self.hotpath.stopper.stop_all_nowait(StopLevel.HARD, StopReason.VEHICLE)
        return True

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Tick until cancelled, while no stop thread owns the hot path (it ticks itself)."""
        task_status.started()
        stalled = False
        while True:
            if self.hotpath.threaded:
                await trio.sleep(MAX_SLEEP_S)
                stalled = self._check_stop_thread(stalled)
                continue
            now = self.hotpath.clock()
            await trio.sleep(max(0.0, self.next_deadline(now) - now))
            if not self.hotpath.threaded:
                self.hotpath.tick()
