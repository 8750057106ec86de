"""The hot path: from a vehicle reading to the stop flag, in one synchronous call chain.

A source calls `HotPath.feed` on the stop thread, the thread that read the frame (or the DBus
signal); `feed` updates the state, asks the policy, and on a hard-stop edge writes every
worker's stop page before returning: no await, no channel hop and no lock between the reading
and the flag. The release of the stop pages when the car is admitted again is decided here too,
from the same evaluation.

Threads (docs/stop-path.md): while a stop thread owns the hot path (`attach`), every call made
on another thread (`feed`, `tick`, `set_soft_stop`, `set_busy`, the policy's setters through
`HotPath.policy`...) is handed to the stop thread and waited for (`supervisor.preempt.handoff`),
so the state and the policy are only ever changed and evaluated there. The other threads read
immutable snapshots: `decision`, the state's `Signal` values, `statistics()`. Listeners are
called on the trio thread (`TrioToken.run_sync_soon`), never on the stop thread, and must only
queue the news; without a stop thread they are called inline, after the evaluation.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

import trio

from sandbox.stop_page import StopLevel, StopReason

from .policy import AdmissionPolicy, Decision, PolicyConfig
from .preempt import Stopper
from .preempt.handoff import Handoff
from .vehicle.state import SignalUpdate, VehicleState

LOG = logging.getLogger(__name__)

DecisionListener = Callable[[Decision], None]


@dataclass(frozen=True, slots=True)
class HotPathStatistics:
    """Counters for status screens."""

    readings: int
    evaluations: int
    hard_stops: int
    last_stop_latency_ms: float | None


class PolicyInputs:
    """The admission policy as other threads see it: its setters run on the stop thread.

    `HotPath.policy` is this object, so its callers never change the policy while the stop
    thread evaluates it. The inputs that change the decision at once (soft stops, the busy
    flag) are the hot path's own calls (`HotPath.set_soft_stop`, `HotPath.set_busy`), which
    set and re-evaluate in one hand-over.
    """

    def __init__(self, policy: AdmissionPolicy, handoff: Handoff) -> None:
        self.inner = policy
        self._handoff = handoff

    def _call(self, fn: Callable[[], None]) -> None:
        self._handoff.call(fn, lambda: None)

    @property
    def config(self) -> PolicyConfig:
        """The policy's configuration."""
        return self.inner.config

    @config.setter
    def config(self, config: PolicyConfig) -> None:
        def apply() -> None:
            self.inner.config = config

        self._call(apply)

    @property
    def last(self) -> Decision | None:
        """The latest decision (an immutable snapshot)."""
        return self.inner.last

    @property
    def soc_floor(self) -> float | None:
        """The simple floor check's floor, None once the budget owns it."""
        return self.inner.soc_floor

    def use_budget(self) -> None:
        """The thermal budget now owns the battery floor."""
        self._call(self.inner.use_budget)

    def source_failed(self, name: str, why: str) -> None:
        """A vehicle source stopped delivering (a hard stop at the next evaluation)."""
        self._call(lambda: self.inner.source_failed(name, why))

    def source_recovered(self, name: str) -> None:
        """A vehicle source delivers again."""
        self._call(lambda: self.inner.source_recovered(name))

    def stop_acknowledged(self) -> None:
        """Every worker acknowledged (or was killed for) the last hard stop."""
        self._call(self.inner.stop_acknowledged)


class HotPath:
    """Vehicle state + admission policy + stopper, chained synchronously.

    It is the vehicle sources' `supervisor.vehicle.sink.ReadingSink` (`declare`, `feed`,
    `source_failed`, `source_recovered`).

    Errors: none of the calls raise for vehicle data; a listener that raises is logged.
    """

    def __init__(
        self,
        state: VehicleState,
        policy: AdmissionPolicy,
        stopper: Stopper,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.handoff = Handoff()
        self.state = state
        self._policy = policy
        self.policy = PolicyInputs(policy, self.handoff)
        self.stopper = stopper
        self.clock = clock
        self._listeners: list[DecisionListener] = []
        self._token: trio.lowlevel.TrioToken | None = None
        self._readings = 0
        self._evaluations = 0
        self._hard_stops = 0
        self._last_latency_ms: float | None = None
        # The thread the daemon is built and its trio loop runs on: listeners run there.
        self._loop_thread = threading.get_ident()
        self.decision = policy.evaluate(state, clock())
        # Stamped by the stop thread each time round (`StopThreadControl.wait`); the loop's
        # `PolicyClock` stops the workers when it grows old.
        self.heartbeat = clock()

    # -- threads -----------------------------------------------------------------------------

    def attach(self, token: trio.lowlevel.TrioToken | None) -> None:
        """The calling thread becomes the stop thread; listeners go to `token`'s trio thread."""
        self._token = token
        self.heartbeat = self.clock()
        self.handoff.own()

    def detach(self) -> None:
        """The stop thread leaves (calls queued meanwhile run first); calls run inline again."""
        self.handoff.disown()
        self._token = None

    @property
    def threaded(self) -> bool:
        """Whether a stop thread owns the hot path."""
        return self.handoff.owned

    def add_listener(self, listener: DecisionListener) -> None:
        """Call `listener(decision)` after each evaluation whose phase or reasons changed."""
        self._listeners.append(listener)

    # -- inputs (any thread) -----------------------------------------------------------------

    def declare(self, path: str, max_age_s: float) -> None:
        """Expect `path`, stale after `max_age_s` seconds (sources declare before they feed)."""
        self.state.declare(path, max_age_s)

    def feed(self, updates: Iterable[SignalUpdate], received_ns: int | None = None) -> Decision:
        """Apply readings and decide; writes the stop flags on a hard-stop edge.

        Args:
            updates: readings from one frame or signal.
            received_ns: when the reading was received (monotonic ns), to measure the
                reading-to-flag latency.
        """
        if self.handoff.foreign():
            updates = list(updates)
            return self.handoff.call(
                lambda: self._feed(updates, received_ns), lambda: self.decision
            )
        return self._feed(updates, received_ns)

    def tick(self) -> Decision:
        """Re-evaluate without new readings (signals going stale, the settle timer)."""
        return self._on_owner(lambda: self._decide(None))

    def set_soft_stop(self, source: str, reasons: Sequence[str]) -> Decision:
        """Replace `source`'s soft-stop reasons ("budget", "owner", "drain", ...) and
        re-evaluate, in one hand-over."""
        reasons = tuple(reasons)

        def apply() -> Decision:
            self._policy.set_soft_stop(source, reasons)
            return self._decide(None)

        return self._on_owner(apply)

    def set_busy(self, busy: bool) -> Decision:
        """Whether a job is running now (SERVING vs ELIGIBLE), and re-evaluate, in one
        hand-over."""

        def apply() -> Decision:
            self._policy.set_busy(busy)
            return self._decide(None)

        return self._on_owner(apply)

    def stop_acknowledged(self) -> Decision:
        """Every worker acknowledged (or was killed for) the last hard stop: re-evaluate."""

        def apply() -> Decision:
            self._policy.stop_acknowledged()
            return self._decide(None)

        return self._on_owner(apply)

    def source_failed(self, name: str, why: str) -> Decision:
        """A source failed: a hard stop (written at once)."""

        def apply() -> Decision:
            self._policy.source_failed(name, why)
            return self._decide(None)

        return self._on_owner(apply)

    def source_recovered(self, name: str) -> Decision:
        """A source delivers again."""

        def apply() -> Decision:
            self._policy.source_recovered(name)
            return self._decide(None)

        return self._on_owner(apply)

    def _on_owner(self, fn: Callable[[], Decision]) -> Decision:
        return self.handoff.call(fn, lambda: self.decision)

    # -- the stop thread ---------------------------------------------------------------------

    def _feed(self, updates: Iterable[SignalUpdate], received_ns: int | None) -> Decision:
        changed = False
        apply = self.state.apply
        for update in updates:
            self._readings += 1
            changed = apply(update) or changed
        # A refresh that changes no value only matters if something was unknown or stale.
        if not changed and not self.decision.hard and not self.decision.reasons:
            return self.decision
        return self._decide(received_ns)

    def _decide(self, received_ns: int | None) -> Decision:
        self._evaluations += 1
        previous = self.decision
        decision = self._policy.evaluate(self.state, self.clock())
        # Published before the pages are written (one attribute store, nanoseconds): whoever
        # sees a page stopped finds the decision that explains it.
        self.decision = decision
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
        if not decision.same_as(previous):
            self._notify(decision)
        return decision

    def _notify(self, decision: Decision) -> None:
        token = self._token
        # By thread, not by ownership: while the stop thread detaches, the calls still queued
        # run on it after it gave up ownership, and listeners (trio channels) must not.
        if token is None or threading.get_ident() == self._loop_thread:
            self._call_listeners(decision)
            return
        # Listeners log, publish and take locks of their own: never on the stop thread.
        with contextlib.suppress(trio.RunFinishedError):
            token.run_sync_soon(self._call_listeners, decision)

    def _call_listeners(self, decision: Decision) -> None:
        for listener in self._listeners:
            try:
                listener(decision)
            except Exception:
                LOG.exception("decision listener %r failed", listener)

    def statistics(self) -> HotPathStatistics:
        """A snapshot of the counters."""
        return HotPathStatistics(
            self._readings, self._evaluations, self._hard_stops, self._last_latency_ms
        )
