"""The daemon: builds the services from the configuration and runs them under one nursery.

Start order is dependency order: the vehicle source first (nothing may compute before the
car's state is known), then the policy clock, the thermal budget and the decision reporter;
the workers, the uplink and the DBus API start after them. ``READY=1`` is sent after the
last service started. On SIGTERM or SIGINT the daemon writes a hard stop to every worker,
sends ``STOPPING=1``, lets the running job be answered and recorded, and cancels the services;
all of it within ``daemon.shutdown_grace_s`` (`Supervisor.shutdown`). One daemon runs per
``daemon.runtime_dir``, which holds its lock (`instance_lock`).
"""

from __future__ import annotations

import logging
import signal
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import datetime
from pathlib import Path
from typing import Any

import trio

from sandbox.board import PageBoard
from sandbox.pool import WorkerPool
from sandbox.stop_page import StopLevel, StopReason
from sandbox.wakeup import Wakeup
from supervisor.api.service import ApiService
from supervisor.config.errors import ConfigError
from supervisor.config.schema import Config
from supervisor.hotpath import HotPath
from supervisor.ledger import LEDGER_FILE
from supervisor.nodes.adapter import adapter_for
from supervisor.policy import AdmissionPolicy, Decision
from supervisor.policy_clock import PolicyClock
from supervisor.preempt.guardian.link import GuardianLink
from supervisor.vehicle.state import VehicleState
from thermal.decision import BudgetDecision
from thermal.prefstore import PreferenceStore
from thermal.sensors import DeviceMonitor
from thermal.service import BudgetService, local_now
from uplink.node import NodeUplink

from .allocator import keep_large_blocks_mapped
from .budget_link import BudgetLink
from .facade import DaemonFacade
from .guard import keep_running
from .instance_lock import hold_instance_lock
from .job_desk import JobDesk
from .log_ring import LogRing
from .manifest_installer import ManifestInstaller, check_models_provisioned
from .owner_pause import PAUSE_FILE, OwnerPause
from .reload import NoConfigFile, reload_file
from .sources import VehicleSource, on_stop_thread
from .stop_watch import StopReport, StopWatch
from .systemd import Notifier

LOG = logging.getLogger("parkmesh")

# Decisions queue here between the hot path and the reporter; if the reporter ever falls this
# far behind, older news is dropped (the latest decision is always kept in the hot path).
DECISION_BUFFER = 256

# How much longer than the pool's own stop deadline the stop watch waits.
STOP_WATCH_MARGIN_MS = 20.0
# Sources of a real vehicle bus, which the guardian process reads too.
GUARDED_SOURCES = ("can", "dbus")
# The uplink's status is published on changes; the budget's runway also counts down between
# them, so the status is looked at again at least this often (a parked car: once in 5 s).
STATUS_REFRESH_S = 5.0

# The policy is re-evaluated at least every 0.25 s; this long without one means it is stuck.
STALL_S = 2.0

ServiceFn = Callable[..., Awaitable[Any]]


class Interrupted(Exception):
    """SIGTERM or SIGINT came while the daemon was starting: it stopped before it was ready."""


class Supervisor:
    """The parkmesh daemon, assembled from a `Config`.

    Attributes:
        hotpath: vehicle state, policy and stop board chained synchronously.
        board: the stop pages of the live workers.
        stop_watch: reports hard stops and keeps the last `StopReport` (it never kills: the
            pool's confirmer does).
        decision_listeners: called for each change, off the hot path (demo, API).
        stop_reports: called with each confirmed hard stop and its `StopReport`.
    """

    def __init__(
        self,
        config: Config,
        *,
        notifier: Notifier | None = None,
        source: Callable[[HotPath], VehicleSource] | None = None,
        wall_clock: Callable[[], datetime] | None = None,
        config_path: Path | None = None,
    ) -> None:
        self.config = config
        # The file `systemctl reload` (SIGHUP) re-reads; None: nothing to re-read.
        self.config_path = config_path
        self.notifier = notifier or Notifier()
        self.board = PageBoard()
        # The kind of node (car, home battery, robot) brings its rules, source and budget inputs.
        self.node = adapter_for(config.node)
        self.hotpath = HotPath(
            VehicleState(),
            AdmissionPolicy(config.policy, self.node.rules(config.policy)),
            self.board,
        )
        # The source reads on the stop thread (or feeds one): docs/stop-path.md.
        self.source = on_stop_thread(
            # Built by the node's own adapter, which then names its source in the state.
            (source or (lambda hp: self.node.build_source(config, hp)))(self.hotpath),
            self.hotpath,
            config.daemon.realtime_priority,
        )
        # A real vehicle bus is also read by the guardian process, which writes its hard
        # stops whatever this process's GIL is doing (docs/stop-path.md).
        self.guardian = (
            GuardianLink(
                config,
                self.board,
                # On the stop thread, in order with its own writes; the loop does not wait.
                lambda: self.hotpath.handoff.call_soon(self.board.resync_nowait),
            )
            if config.node.kind == "car" and config.vehicle.source in GUARDED_SOURCES
            else None
        )
        self.budget_link = BudgetLink(self.hotpath)
        self.budget = BudgetService(
            config.budget,
            self.node.budget_readings(self.hotpath),
            store=PreferenceStore(config.daemon.state_dir),
            on_decision=self._budget_decided,
            # Initialises NVML (or probes psutil's sensors) for the configured source.
            monitor=DeviceMonitor.open(config.budget.device_temperature),
            wall_clock=wall_clock or local_now,
        )
        self.stop_watch = StopWatch(
            self.hotpath,
            self.board,
            # The pool enforces sandbox.ack_deadline_ms itself (it kills late workers); the
            # watch waits a little longer, to report the stop (it never kills).
            (config.sandbox.ack_deadline_ms + STOP_WATCH_MARGIN_MS) / 1000,
        )
        # Called from the reporter task (never from the hot path): printing and publishing.
        self.decision_listeners: list[Callable[[Decision], None]] = []
        # Told of every policy and budget decision: the uplink's status looks again then
        # (and on the pool's own changes) instead of polling.
        self.status_changes = Wakeup()
        self.stop_reports: list[Callable[[Decision, StopReport], None]] = []
        # The worker pool, the job desk and the uplink are built in `run`: building the pool
        # prepares keys, users and folders, which `parkmesh check-config` must not do.
        check_models_provisioned(config.sandbox.models_dir, config.sandbox.models)
        self.pool: WorkerPool | None = None
        self.job_desk: JobDesk | None = None
        self.uplink: NodeUplink | None = None
        self.ledger_path = config.daemon.state_dir / LEDGER_FILE
        self.log_ring = LogRing()
        self.facade = DaemonFacade(
            self.hotpath,
            self.budget,
            self.board,
            self.stop_watch,
            self.log_ring,
            ledger_path=self.ledger_path,
            node=self.node,
        )
        # The owner's pause is kept in the state directory over a restart.
        self.facade.owner_pause = OwnerPause(
            self.hotpath.set_soft_stop, path=config.daemon.state_dir / PAUSE_FILE
        )
        # ``ReloadConfig`` re-reads the file as SIGHUP does.
        self.facade.reloader = lambda: reload_file(self, self.config_path)
        self.decision_listeners.append(self.facade.on_decision)
        self.decision_listeners.append(lambda _decision: self.status_changes.notify_nowait())
        self.stop_reports.append(self.facade.on_stop)
        self.api = ApiService(
            self.facade, config.api.bus, poll_s=config.api.poll_s, log_limit=config.api.log_lines
        )
        self._send, self._receive = trio.open_memory_channel[Decision](DECISION_BUFFER)
        self.hotpath.add_listener(self._queue_decision)
        self.dropped_decisions = 0
        self.healthy = False
        self.signalled: str | None = None

    def _budget_decided(self, decision: BudgetDecision) -> None:
        self.budget_link.on_decision(decision)
        self.status_changes.notify_nowait()

    def _queue_decision(self, decision: Decision) -> None:
        try:
            self._send.send_nowait(decision)
        except trio.WouldBlock:
            self.dropped_decisions += 1

    async def run(
        self, *, task_status: trio.TaskStatus[Supervisor] = trio.TASK_STATUS_IGNORED
    ) -> None:
        """Start every service, report READY, and serve until cancelled or signalled.

        Raises:
            Interrupted: a signal stopped the daemon during start-up (so ``started`` never
                came); after start-up a signal makes `run` return.
            AlreadyRunning: another daemon holds ``daemon.runtime_dir``.
            ConfigError: the runtime directory cannot be used.
        Cancellation: cancelling `run` hard-stops the workers and stops the services.
        """
        with hold_instance_lock(self.config.daemon.runtime_dir):
            await self._serve(task_status)

    async def _serve(self, task_status: trio.TaskStatus[Supervisor]) -> None:
        logging.getLogger().addHandler(self.log_ring)
        keep_large_blocks_mapped()
        self.status_changes.bind()
        # The trio loop stays at normal priority: the stop thread and the pool's confirmer
        # take daemon.realtime_priority for themselves.
        ready = False
        try:
            # The receiver stays open until every service has finished its shielded clean-up,
            # so that a second Ctrl-C cannot interrupt it.
            with (
                trio.open_signal_receiver(signal.SIGTERM, signal.SIGINT) as signals,
                # Opened from the start: SIGHUP's default action would end the daemon.
                trio.open_signal_receiver(signal.SIGHUP) as hups,
            ):
                async with trio.open_nursery() as nursery:
                    # Signals are acted on from the start: a SIGTERM while the workers are
                    # still loading stops the daemon at once instead of after start-up.
                    nursery.start_soon(self._stop_on_signal, signals, nursery)
                    nursery.start_soon(self._reload_on_signal, hups)
                    await nursery.start(self.source.run)
                    if self.guardian is not None:
                        await nursery.start(self.guardian.run)
                    await nursery.start(PolicyClock(self.hotpath).run)
                    await nursery.start(self.budget.run)
                    await nursery.start(self._report_decisions)
                    await self._start_workers(nursery)
                    self.facade.owner_pause.restore()
                    await nursery.start(keep_running, "DBus API", lambda: self.api.run)
                    # Measures the loop from here on: its longest step and its lag, while
                    # serving (start-up's imports and warm-ups are not the car's business).
                    await nursery.start(self.facade.loop_monitor.run)
                    self.healthy = True
                    self.notifier.ready(self.hotpath.decision.explain())
                    LOG.info("parkmesh serving; %s", self.hotpath.decision.explain())
                    if self.notifier.watchdog_s:
                        nursery.start_soon(self._watchdog, self.notifier.watchdog_s)
                    ready = True
                    task_status.started(self)
        finally:
            logging.getLogger().removeHandler(self.log_ring)
            self.healthy = False
            self.board.stop_all_nowait(StopLevel.HARD, StopReason.SHUTDOWN)
            self.notifier.close()
        if not ready and self.signalled is not None:
            raise Interrupted(f"{self.signalled} before the daemon was ready")

    async def _start_workers(self, nursery: trio.Nursery) -> None:
        """Start the worker pool (models configured) and the uplink (enabled)."""
        sandbox, uplink = self.config.sandbox, self.config.uplink
        if not sandbox.models:
            LOG.info("no models configured: this car serves no jobs")
            return
        pool = self.pool = WorkerPool(
            sandbox, board=self.board, stop_priority=self.config.daemon.realtime_priority
        )
        self.facade.workers_list = pool
        self.facade.worker_restarter = pool.restart_worker  # ``RestartWorker``
        self.stop_watch.kills = lambda: pool.kills
        await nursery.start(pool.run)
        desk = self.job_desk = self.facade.desk = self.desk_for(pool)
        await nursery.start(desk.run)
        if uplink.enabled:
            node = self.uplink = self.facade.own_uplink = NodeUplink.open(
                uplink,
                desk,
                # The runway counts down between decisions: seen at least every refresh.
                status_changes=[pool.changes.wait, self.status_changes.wait, _status_refresh],
            )
            await nursery.start(keep_running, "uplink", lambda: node.run)

    def desk_for(self, pool: WorkerPool) -> JobDesk:
        """The job desk that runs this daemon's jobs on `pool` (not started)."""
        sandbox = pool.config
        return JobDesk(
            pool,
            self.ledger_path,
            car=self.hotpath,
            budget=self.budget,
            installer=ManifestInstaller(
                sandbox.models_dir, sandbox.models, pool.facts.operator_public_key
            ),
            device=self.budget.monitor.device,
            ledger=self.config.ledger,
            news=self.facade,
            kind=self.config.node.kind,
        )

    async def _reload_on_signal(self, hups: AsyncIterator[int]) -> None:
        """On each SIGHUP (``systemctl reload``): re-read the file, apply what can change live
        and log what needs a restart (`reload.reload_file`). A file that does not load or
        check changes nothing: the error is logged and the daemon carries on."""
        async for _ in hups:
            try:
                reload_file(self, self.config_path)
            except NoConfigFile:
                LOG.warning("SIGHUP: the daemon was started without a file to re-read")
            except ConfigError:
                pass  # logged by `reload_file`: nothing changed, the daemon carries on

    async def _stop_on_signal(self, signals: AsyncIterator[int], nursery: trio.Nursery) -> None:
        """Shut the daemon down on the first SIGTERM or SIGINT."""
        async for signum in signals:
            self.signalled = signal.Signals(signum).name
            LOG.info(
                "received %s: stopping within %.1f s",
                self.signalled,
                self.config.daemon.shutdown_grace_s,
            )
            await self.shutdown(nursery)
            return

    async def shutdown(self, nursery: trio.Nursery) -> None:
        """Stop the daemon within ``daemon.shutdown_grace_s``, losing nothing (hypercorn's
        pattern: the nursery gets a deadline, and is cancelled early once all is quiet).

        The workers are hard-stopped at once (the car wins, also on the way down) and the
        uplink takes no new job; the job that was running ends, its ledger row commits and
        its answer reaches the broker; then the services are cancelled and run their
        shielded clean-ups. Should the grace run out first (a broker that is down, say), the
        deadline cancels everything all the same: the answer waits in the outbox and the job's
        in-flight marker in the ledger, and both are completed at the next start.
        """
        self.board.stop_all_nowait(StopLevel.HARD, StopReason.SHUTDOWN)
        self.notifier.stopping()
        grace_ends = trio.current_time() + self.config.daemon.shutdown_grace_s
        nursery.cancel_scope.deadline = min(nursery.cancel_scope.deadline, grace_ends)
        if self.uplink is not None:
            self.uplink.stop_taking_jobs()
            await self.uplink.wait_quiet()
        if self.job_desk is not None:
            await self.job_desk.wait_idle()
        LOG.info("every job answered and recorded: stopping the services")
        nursery.cancel_scope.cancel()

    async def _report_decisions(
        self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED
    ) -> None:
        """Log each change of eligibility once, update STATUS=, confirm hard stops."""
        task_status.started()
        async for decision in self._receive:
            log = LOG.warning if decision.hard_stop_edge else LOG.info
            log("%s", decision.explain())
            self.notifier.status(decision.explain())
            for listener in self.decision_listeners:
                listener(decision)
            if decision.hard_stop_edge:
                report = await self.stop_watch.confirm()
                for report_listener in self.stop_reports:
                    report_listener(decision, report)

    def is_healthy(self) -> bool:
        """Started, and the policy evaluated recently (its clock ticks at least every 0.25 s)."""
        return self.healthy and self.hotpath.clock() - self.hotpath.decision.at < STALL_S

    async def _watchdog(self, interval_s: float) -> None:
        """Ping systemd at half the watchdog interval, only while the daemon is healthy."""
        while True:
            if self.is_healthy():
                self.notifier.watchdog()
            else:
                LOG.error("unhealthy: not pinging the watchdog")
            await trio.sleep(interval_s / 2)


async def _status_refresh() -> None:
    """A change feed of the uplink's status that fires every `STATUS_REFRESH_S`."""
    await trio.sleep(STATUS_REFRESH_S)
