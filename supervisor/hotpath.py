"""The hot path: from a vehicle reading to the stop flag, in one synchronous call chain.

A source calls `HotPath.feed` from the task that read the frame (or the DBus signal); `feed`
updates the state, asks the policy, and on a hard-stop edge writes every worker's stop page
before returning: no await, no channel hop and no lock between the reading and the flag.
Listeners are told afterwards, also synchronously, and must only queue the news (for example
with a memory channel's ``send_nowait``); waiting for acknowledgements, killing, logging and
telling the dispatcher happen in other tasks. The release of the stop pages when the car is
admitted again is decided here too, from the same evaluation.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from sandbox.stop_page import StopLevel, StopReason

from .policy import AdmissionPolicy, Decision
from .preempt import Stopper
from .vehicle.state import SignalUpdate, VehicleState

DecisionListener = Callable[[Decision], None]


@dataclass(frozen=True, slots=True)
class HotPathStatistics:
    """Counters for status screens."""

    readings: int
    evaluations: int
    hard_stops: int
    last_stop_latency_ms: float | None


class HotPath:
    """Vehicle state + admission policy + stopper, chained synchronously."""

    def __init__(
        self,
        state: VehicleState,
        policy: AdmissionPolicy,
        stopper: Stopper,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.state = state
        self.policy = policy
        self.stopper = stopper
        self.clock = clock
        self._listeners: list[DecisionListener] = []
        self._readings = 0
        self._evaluations = 0
        self._hard_stops = 0
        self._last_latency_ms: float | None = None
        self.decision = policy.evaluate(state, clock())

    def add_listener(self, listener: DecisionListener) -> None:
        """Call `listener(decision)` after each evaluation whose phase or reasons changed."""
        self._listeners.append(listener)

    def feed(self, updates: Iterable[SignalUpdate], received_ns: int | None = None) -> Decision:
        """Apply readings and decide; writes the stop flags on a hard-stop edge.

        Args:
            updates: readings from one frame or signal.
            received_ns: when the reading was received (monotonic ns), to measure the
                reading-to-flag latency.
        """
        changed = False
        for update in updates:
            self._readings += 1
            changed = self.state.apply(update) or changed
        # A refresh that changes no value only matters if something was unknown or stale.
        if not changed and not self.decision.hard and not self.decision.reasons:
            return self.decision
        return self._decide(received_ns)

    def tick(self) -> Decision:
        """Re-evaluate without new readings (signals going stale, the settle timer)."""
        return self._decide(None)

    def refresh_soft_stops(self) -> Decision:
        """Re-evaluate after the soft stops changed (budget, owner, drain)."""
        return self._decide(None)

    def source_failed(self, name: str, why: str) -> Decision:
        """A source failed: a hard stop (written at once)."""
        self.policy.source_failed(name, why)
        return self._decide(None)

    def source_recovered(self, name: str) -> Decision:
        """A source delivers again."""
        self.policy.source_recovered(name)
        return self._decide(None)

    def _decide(self, received_ns: int | None) -> Decision:
        self._evaluations += 1
        previous = self.decision
        decision = self.policy.evaluate(self.state, self.clock())
        if decision.hard_stop_edge:
            written_ns = self.stopper.stop_all_nowait(StopLevel.HARD, StopReason.VEHICLE)
            self._hard_stops += 1
            # A stop of the clock (a stale signal) has no reading to measure from.
            self._last_latency_ms = (
                None if received_ns is None else (written_ns - received_ns) / 1e6
            )
        elif decision.accepting and self.stopper.releasable:
            # Admitted (settled, nothing soft in the way): the workers may run again. Done
            # here, in the same synchronous evaluation, so that no later hard stop can be
            # overwritten by a release decided on an older state.
            self.stopper.release_all_nowait()
        self.decision = decision
        if not decision.same_as(previous):
            for listener in self._listeners:
                listener(decision)
        return decision

    def statistics(self) -> HotPathStatistics:
        """A snapshot of the counters."""
        return HotPathStatistics(
            self._readings, self._evaluations, self._hard_stops, self._last_latency_ms
        )
