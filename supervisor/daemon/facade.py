"""The daemon as its DBus API sees it: snapshots, actions and events (`SupervisorFacade`).

The parts it reads are named by the protocols of `facade_ports` (re-exported here)."""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import Any

import trio

from sandbox.board import Stopper
from sandbox.stop_page import StopLevel, StopReason
from supervisor.api.bounds import shown
from supervisor.api.facade import (
    ApiEvent,
    JobFinished,
    JsonMap,
    PreferenceError,
    ReloadRefused,
    SignalView,
    StateChanged,
    StateView,
    Stopped,
)
from supervisor.nodes.identity import NodeIdentity
from supervisor.policy import Decision
from thermal.preferences import PREFERENCE_NAMES, set_preference

from .facade_ports import CarView, JobViews, OwnerBudget, StopConfirmer, UplinkView, WorkerList
from .log_ring import LogRing
from .loop_monitor import IDLE_LAG_PERIOD_S, LoopMonitor
from .owner_pause import OwnerPause
from .reload import NoConfigFile, ReloadOutcome
from .stop_watch import StopReport

__all__ = [
    "CarView",
    "DaemonFacade",
    "JobViews",
    "OwnerBudget",
    "StopConfirmer",
    "UplinkView",
    "WorkerList",
]

LOG = logging.getLogger("parkmesh")

# Events queued per API subscriber before the oldest news is dropped.
SUBSCRIBER_BUFFER = 64


class DaemonFacade:
    """Implements `supervisor.api.facade.SupervisorFacade` over the daemon's parts.

    The daemon tells it each decision (`on_decision`) and each confirmed stop (`on_stop`) off
    the hot path, and hands it the workers, the job desk and the uplink once they are built
    (`workers`, `desk` and `own_uplink` stay None for a car that serves no jobs). `node` is
    the node kind's adapter, which names the kind and its source in the state (None: the
    state names no kind, rather than a wrong one).
    """

    def __init__(
        self,
        car: CarView,
        budget: OwnerBudget,
        stopper: Stopper,
        stop_watch: StopConfirmer,
        log_ring: LogRing,
        *,
        ledger_path: Path | None = None,
        node: NodeIdentity | None = None,
    ) -> None:
        self.car = car
        self.node = node
        self.owner_budget = budget
        self.stopper = stopper
        self.stop_watch = stop_watch
        self.log_ring = log_ring
        self.ledger = ledger_path
        self.workers_list: WorkerList | None = None
        self.desk: JobViews | None = None
        self.own_uplink: UplinkView | None = None
        # One a demo serves the car with instead (`supervisor.demo.run`).
        self.attached_uplink: UplinkView | None = None
        self._subscribers: list[trio.MemorySendChannel[ApiEvent]] = []
        self._draining = False
        self.owner_pause = OwnerPause(car.set_soft_stop)
        # The daemon's reload of its file (`reload.reload_file`) and the pool's restart of one
        # worker (`Lifecycle.restart`), handed over by the daemon; None: not possible here.
        self.reloader: Callable[[], ReloadOutcome] | None = None
        self.worker_restarter: Callable[[str], Awaitable[dict[str, Any]]] | None = None
        # Started by the daemon (`Supervisor.run`: ``nursery.start(facade.loop_monitor.run)``);
        # until then `loop()` reports ``running: false``.
        self.loop_monitor = LoopMonitor(idle_period_s=IDLE_LAG_PERIOD_S)
        # One preference change at a time: each is computed from the one before and written
        # to disk (in a thread) before the next starts, in the order the calls came.
        self._preference_lock = trio.Lock()

    # -- events --------------------------------------------------------------------------------

    def publish(self, event: ApiEvent) -> None:
        """Send `event` to every subscriber that has room; drop closed subscribers."""
        for channel in list(self._subscribers):
            try:
                channel.send_nowait(event)
            except trio.WouldBlock:
                pass
            except (trio.BrokenResourceError, trio.ClosedResourceError):
                self._subscribers.remove(channel)

    def on_decision(self, decision: Decision) -> None:
        """Tell subscribers the state changed (the daemon's reporter calls it, off the hot
        path)."""
        self.publish(StateChanged(self.state()))

    def on_stop(self, decision: Decision, report: StopReport) -> None:
        """Tell subscribers a hard stop was confirmed, and how long it took."""
        latency = report.flag_to_idle_ms or report.reading_to_flag_ms or 0.0
        self.publish(Stopped(decision.reasons[0].text if decision.reasons else "stop", latency))

    def job_finished(
        self, job_id: str, outcome: str, credit: float = 0.0, details: dict[str, Any] | None = None
    ) -> None:
        """Tell subscribers a job ended."""
        self.publish(JobFinished(job_id, outcome, credit, details or {}))

    def subscribe(self) -> trio.MemoryReceiveChannel[ApiEvent]:
        """A new event channel for one subscriber."""
        send, receive = trio.open_memory_channel[ApiEvent](SUBSCRIBER_BUFFER)
        self._subscribers.append(send)
        return receive

    # -- snapshots -----------------------------------------------------------------------------

    def state(self) -> StateView:
        """The phase and its reasons, and the node they are of."""
        paused_until = self.owner_pause.until  # first: it lifts a pause whose time is past
        decision = self.car.decision
        node = self.node
        return StateView(
            phase=str(decision.phase),
            reasons=tuple(r.text for r in decision.reasons),
            hard=decision.hard,
            draining=self._draining,
            explanation=decision.explain(),
            paused_until=paused_until,
            node_kind=node.kind if node is not None else "",
            node_source=node.source_name() if node is not None else "",
        )

    def vehicle(self) -> Sequence[SignalView]:
        """Every declared or received signal, with age and staleness."""
        state, now = self.car.state, self.car.clock()
        views = []
        for path in sorted(set(state.declared) | {s.path for s in state}):
            sig = state.get(path)
            if sig is None:
                views.append(SignalView(path, None, None, True))
            else:
                views.append(
                    SignalView(path, sig.value, round(sig.age(now), 3), not sig.is_fresh(now))
                )
        return views

    def budget(self) -> JsonMap:
        """The budget's snapshot."""
        return self.owner_budget.snapshot()

    def workers(self) -> Sequence[JsonMap]:
        """The worker processes."""
        if self.workers_list is None:
            return []
        return [
            {
                "id": w.pid,
                "model": w.model,
                "device": w.device,
                "state": w.state,
                "confinement": "confined"
                if w.confined
                else "NOT confined: "
                + ", ".join(name for name, applied, _ in w.confinement if not applied),
                "last_stop_ms": w.last_stop_ms,
                "last_stop_via": w.last_stop_via,
                "memory_mb": round(w.rss_bytes / 2**20, 1) if w.rss_bytes else None,
                "restarts": w.restarts,
                "crashes": w.crashes,
                "jobs_ok": w.jobs_ok,
                "jobs_failed": w.jobs_failed,
            }
            for w in self.workers_list.statistics()
        ]

    def uplink(self) -> JsonMap:
        """The dispatcher link."""
        uplink = self.uplink_node
        return uplink.snapshot() if uplink is not None else {"connected": False}

    @property
    def uplink_node(self) -> UplinkView | None:
        """The uplink serving this car: the daemon's own, or one a demo attached."""
        return self.own_uplink or self.attached_uplink

    def jobs(self) -> Sequence[JsonMap]:
        """Jobs running now."""
        return self.desk.jobs_view() if self.desk is not None else []

    def earnings(self) -> JsonMap:
        """Credits today and this month, from the ledger."""
        return self.desk.earnings_view() if self.desk is not None else {}

    def last_stop_ms(self) -> float | None:
        """Latency of the last confirmed hard stop."""
        report = self.stop_watch.last
        if report is None:
            return None
        value = report.flag_to_idle_ms or report.reading_to_flag_ms
        return None if value is None or math.isnan(value) else value

    def log_lines(self, limit: int) -> Sequence[str]:
        """The most recent log lines."""
        return self.log_ring.tail(limit)

    def log_serial(self) -> int:
        """Lines logged since start."""
        return self.log_ring.serial

    def preferences(self) -> JsonMap:
        """The owner's preferences."""
        return self.owner_budget.preferences.to_json()

    def ledger_path(self) -> Path | None:
        """The earnings ledger file."""
        return self.ledger

    def loop(self) -> JsonMap:
        """The loop's longest task step and lag (`LoopMonitor`)."""
        return self.loop_monitor.statistics().to_json()

    # -- actions -------------------------------------------------------------------------------

    async def set_preference(self, name: str, value: str) -> Any:
        """Validate, persist and apply one preference; returns once it is durable on disk.

        The store's two fsyncs run in a worker thread (`PreferenceStore.persist`), so the loop
        (and with it the vehicle's stop path) never waits for the disk; the budget adopts the
        new preferences only after they are on disk, as when it wrote them itself.

        Cancellation: a write already started completes first; the preference is then adopted
        only if the write finished, and the cancellation is delivered.

        Raises:
            PreferenceError: the name or the value is refused.
            OSError: the preferences cannot be written (nothing is adopted).
        """
        if name not in PREFERENCE_NAMES:
            raise PreferenceError(
                "name", f"unknown preference {shown(name)} (known: {', '.join(PREFERENCE_NAMES)})"
            )
        budget = self.owner_budget
        async with self._preference_lock:
            try:
                prefs = set_preference(budget.preferences, name, value)
            except ValueError as exc:  # thermal's PreferenceError names the field and problem
                raise PreferenceError("value", str(exc)) from None
            if budget.store is not None:
                await budget.store.persist(prefs)
            # The store finds these preferences already on disk and does not write again.
            budget.set_preferences(prefs)
        LOG.info("owner preference %s set to %s", name, shown(value))
        return prefs.to_json()[name]

    def add_curtailment(self, request_json: str) -> JsonMap:
        """Obey a demand-response request.

        Raises:
            ValueError: the request is malformed.
        """
        accepted = self.owner_budget.add_curtailment_json(request_json)
        LOG.info("curtailment accepted: %s", accepted)
        return accepted

    async def drain(self) -> None:
        """No new jobs until `resume`; the running ones finish."""
        self._draining = True
        self.car.set_soft_stop("drain", ["drained by the technician"])
        LOG.info("drained by the technician")

    async def resume(self) -> None:
        """Take jobs again (when the policy allows)."""
        self._draining = False
        self.car.set_soft_stop("drain", [])
        LOG.info("resumed by the technician")

    async def pause(self, until_unix: float) -> float:
        """The owner's pause until `until_unix`, 0: until `unpause` (`OwnerPause.pause`,
        which raises ValueError for a time not in the future)."""
        return self.owner_pause.pause(until_unix)

    async def unpause(self) -> bool:
        """Lift the owner's pause; False when none was in force."""
        return self.owner_pause.lift()

    async def reload_config(self) -> JsonMap:
        """Re-read the configuration file and apply its live keys (`reload.reload_file`).

        Raises:
            ReloadRefused: no file to re-read, or it does not load or check (nothing changed).
        """
        if self.reloader is None:
            raise ReloadRefused("this daemon cannot reload its configuration", unavailable=True)
        try:
            outcome = self.reloader()
        except NoConfigFile as exc:
            raise ReloadRefused(str(exc), unavailable=True) from None
        except ValueError as exc:  # ConfigError: names the file and the line
            raise ReloadRefused(str(exc)) from None
        return outcome.to_json()

    async def restart_worker(self, name: str) -> JsonMap:
        """Restart one worker of the pool (`sandbox.pool_lifecycle.Lifecycle.restart`).

        Raises:
            KeyError: no worker of that name (none at all on a car that serves no jobs).
            ValueError: it has no running worker to restart now.
        """
        if self.worker_restarter is None:
            raise KeyError(name)
        return await self.worker_restarter(name)

    async def test_stop(self) -> float:
        """Write a hard stop to every worker as a door would and measure it to idle, in ms."""
        # While the test runs the policy holds a soft stop, so that nothing re-admits the
        # workers before they are measured; lifting it lets the hot path release them.
        self.car.set_soft_stop("test", ["technician's test stop"])
        asked_ns = time.monotonic_ns()
        written_ns = self.stopper.stop_all_nowait(StopLevel.HARD, StopReason.TEST)
        try:
            report = await self.stop_watch.confirm()
        finally:
            self.car.set_soft_stop("test", [])
        # Without a worker the flag write is all there is to measure.
        latency = report.flag_to_idle_ms
        if latency is None:
            latency = (written_ns - asked_ns) / 1e6
        LOG.info("test stop: %d worker(s) idle %.3f ms after the flag", report.workers, latency)
        self.publish(Stopped("test stop", latency))
        return latency
