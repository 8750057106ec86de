"""The job desk: runs the uplink's jobs on the worker pool and accounts for each one.

It is the daemon's `uplink.node_port.NodePort`: it answers the uplink's status polls from the
policy, the budget and the pool; runs a job only while the policy accepts; marks the car
SERVING while a job runs (so the policy, the budget's hours cap and the TUI know); meters the
job's energy; writes the ledger before it answers; and tells the API.
"""

from __future__ import annotations

import json
import logging
import math
import os
import shutil
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import trio

from sandbox.jobs import JobResult as PoolResult
from sandbox.models.errors import ManifestError
from sandbox.models.manifest import MANIFEST_NAME, load_manifest, verify_files
from supervisor.ledger import Ledger
from supervisor.ledger.statement import compute_seconds_between, earnings
from uplink.messages import FailureReason
from uplink.node_port import Curtailment, Job, JobFailure, JobResult, NodeStatus
from uplink.pool_bridge import pool_job, pool_outcome

if TYPE_CHECKING:
    from sandbox.pool import WorkerPool

    from .app import Supervisor

LOG = logging.getLogger("parkmesh.jobs")

# Ledger writes queued for the writer thread; far more than jobs and receipts arrive.
WRITE_BUFFER = 1024
# Manifest installs waiting for the installer thread (each hashes a whole model).
INSTALL_BUFFER = 8

LedgerWrite = Callable[[Ledger], None]
Chore = Callable[[], None]

# How long a finished job waits for its ledger entry before it is answered anyway.
LEDGER_WAIT_S = 5.0
# The pool's job statuses and the budget's energy methods, as the ledger names them.
LEDGER_OUTCOMES = {"ok": "ok", "preempted": "preempted", "stopped": "preempted",
                   "cancelled": "cancelled", "crashed": "failed", "poison": "failed",
                   "failed": "failed", "unavailable": "failed"}
LEDGER_METHODS = {"nvml": "nvml-energy", "rapl": "rapl", "estimate": "estimate"}


@dataclass
class RunningJob:
    """A job on a worker now."""

    job_id: str
    model: str
    started: float  # time.time()
    started_mono: float


class JobDesk:
    """Implements `uplink.node_port.NodePort` over the daemon's pool, policy, budget and ledger."""

    def __init__(self, supervisor: Supervisor, pool: WorkerPool, ledger_path: Path) -> None:
        self.sup = supervisor
        self.pool = pool
        self.ledger_path = ledger_path
        self.running: dict[str, RunningJob] = {}
        self.meter = supervisor.budget.open_job_meter()
        self._earnings: dict[str, Any] = {}
        self._writes, self._receive_writes = trio.open_memory_channel[
            tuple[Chore, str, trio.Event | None]](WRITE_BUFFER)
        self._installs, self._receive_installs = trio.open_memory_channel[
            tuple[Chore, str]](INSTALL_BUFFER)
        self.finished = 0
        self.recorded: set[str] = set()
        self._curtailments: set[str] = set()

    # -- NodePort ------------------------------------------------------------------------------

    def status_snapshot(self) -> NodeStatus:
        """May a job start now, and what the car offers."""
        decision = self.sup.hotpath.decision
        budget = self.sup.budget.decision
        models = tuple(s.model for s in self.pool.statistics() if s.state in ("ready", "busy"))
        accepting = decision.accepting and not self.running and bool(models)
        reasons = tuple(r.text for r in decision.reasons)
        if decision.accepting and not models:
            reasons = ("no warm worker yet",)
        return NodeStatus(
            accepting=accepting,
            reasons=() if accepting else reasons or ("busy with a job",),
            models=models,
            allowed_power_w=budget.allowed_w if budget else 0.0,
            runway_s=(budget.runway_s if budget and not math.isinf(budget.runway_s)
                      else 24 * 3600.0),
            worker_key=self.pool.worker_public_key,
            slots=1,
        )

    async def run_job(self, job: Job) -> JobResult | JobFailure:
        """Run one accepted job to its end; never raises for a job-level failure."""
        decision = self.sup.hotpath.decision
        if not decision.accepting:
            why = "; ".join(r.text for r in decision.reasons) or str(decision.phase)
            return JobFailure(FailureReason.PREEMPTED, f"not serving: {why}")
        now = time.time()
        self.running[job.job_id] = RunningJob(job.job_id, job.model, now, time.monotonic())
        self._set_busy(True)
        # A job whose task is cancelled (another car won) is recorded as cancelled.
        status = "cancelled"
        result: PoolResult | None = None
        try:
            self.meter.start(job.job_id)
            result = await self.pool.run_job(pool_job(job))
            status = result.status
        except Exception as exc:
            LOG.error("job %s: the worker pool failed: %s", job.job_id, exc)
            status = "crashed"
        finally:
            self.running.pop(job.job_id, None)
            self._set_busy(bool(self.running))
            energy_j, method = self._energy(job.job_id)
            with trio.CancelScope(shield=True):
                await self._record(job, now, status, energy_j / 3600.0, method)
        if result is None:
            return JobFailure(FailureReason.CRASHED, "the worker pool failed")
        return pool_outcome(result, energy_j)

    def _energy(self, job_id: str) -> tuple[float, str]:
        """The job's energy in joules and how it was measured (never raises)."""
        try:
            energy = self.meter.finish(job_id)
        except Exception as exc:
            LOG.warning("no energy figure for job %s: %s", job_id, exc)
            return 0.0, "estimate"
        return energy.joules, energy.method

    def record_receipt(self, job_id: str, receipt_id: str, credit: float, currency: str) -> None:
        """The dispatcher's receipt for a job this car won: its credit goes into the ledger.

        Raises:
            ValueError: the receipt is malformed, or its job is not one this car ran (by the
                ledger, as read at start, and the jobs run since).
        """
        if not receipt_id or not math.isfinite(credit) or credit < 0:
            raise ValueError(f"receipt {receipt_id!r} for job {job_id}: bad credit {credit!r}")
        if job_id not in self.recorded:
            # Refused now, so that the uplink does not note the receipt as taken.
            raise ValueError(f"receipt {receipt_id!r}: job {job_id} was not run by this car")
        if currency != self.sup.config.ledger.currency:
            LOG.warning("receipt %s is in %s, the ledger in %s", receipt_id, currency,
                        self.sup.config.ledger.currency)

        def write(ledger: Ledger) -> None:
            if not ledger.has_receipt(receipt_id):
                ledger.record_receipt(job_id, receipt_id, credit)
                LOG.info("receipt %s: %.4f %s for job %s", receipt_id, credit, currency, job_id)

        self._queue_write(write, f"receipt {receipt_id}")

    def cancel_job(self, job_id: str) -> bool:
        """Stop a running job through its worker's stop flag (another car won, or its deadline
        passed); `run_job` then answers it as cancelled."""
        return self.pool.stop_job_nowait(job_id)

    def add_curtailment(self, event: Curtailment) -> None:
        """Obey a dispatcher's demand-response window.

        Raises:
            ValueError: the window is malformed.
        """
        if not (math.isfinite(event.start) and math.isfinite(event.until)
                and event.until > event.start and event.max_power_w >= 0):
            raise ValueError(f"curtailment {event.id!r}: empty window or negative power")
        if event.id and event.id in self._curtailments:
            return  # redelivered
        baseline_w = self.sup.config.budget.host_baseline_w
        self.sup.budget.add_curtailment_json(json.dumps({
            "id": event.id,
            "start": datetime.fromtimestamp(event.start, UTC).isoformat(),
            "duration_s": event.until - event.start,
            # The dispatcher caps compute; the budget's import limit counts the host too.
            "import_limit_kw": (event.max_power_w + baseline_w) / 1000.0,
        }))
        self._curtailments.add(event.id)

    async def drain(self) -> None:
        """The dispatcher asks: stop taking jobs; running ones finish. Kept apart from the
        technician's drain, so that a dispatcher's resume cannot lift it."""
        self.sup.policy.set_soft_stop("dispatcher", ["drained by the dispatcher"])
        self.sup.hotpath.refresh_soft_stops()
        LOG.info("drained by the dispatcher")

    async def resume(self) -> None:
        """The dispatcher's drain ends."""
        self.sup.policy.set_soft_stop("dispatcher", [])
        self.sup.hotpath.refresh_soft_stops()
        LOG.info("resumed by the dispatcher")

    def update_manifest(self, name: str, document: bytes) -> None:
        """Verify and install a signed model manifest. The signature and the model name are
        checked now; the pinned files are hashed afterwards, in the installer thread, and a
        manifest whose files do not match is logged and never installed.

        Raises:
            ManifestError: the model is not one this car runs, or the signature or the
                document does not verify.
        """
        if name not in self.pool.config.models:
            raise ManifestError(f"model {name!r} is not one this car runs")
        model_dir = self.pool.config.models_dir / name
        staging = Path(tempfile.mkdtemp(dir=self.pool.config.models_dir))
        staged = staging / name
        staged.mkdir()
        (staged / MANIFEST_NAME).write_bytes(document)
        try:
            # The signature and the model name are checked now (a small file), so that a
            # forged manifest is refused to the dispatcher at once...
            manifest = load_manifest(staged, self.pool.facts.operator_public_key)
        except ManifestError:
            shutil.rmtree(staging, ignore_errors=True)
            raise

        def install() -> None:
            # ...and every pinned file is hashed in the installer thread (gigabytes on a big
            # model, so never in the ledger writer's way), before the new manifest replaces
            # the old one. Workers load it at their next start.
            try:
                verify_files(model_dir, manifest)
                os.replace(staged / MANIFEST_NAME, model_dir / MANIFEST_NAME)
                LOG.info("model manifest for %s updated", name)
            finally:
                shutil.rmtree(staging, ignore_errors=True)

        try:
            self._installs.send_nowait((install, f"manifest update for {name}"))
        except trio.WouldBlock:
            shutil.rmtree(staging, ignore_errors=True)
            raise ManifestError(f"{INSTALL_BUFFER} manifest updates are already waiting; "
                                "try again later") from None

    # -- accounting ----------------------------------------------------------------------------

    def _set_busy(self, busy: bool) -> None:
        self.sup.policy.set_busy(busy)
        self.sup.budget.set_busy(busy)
        self.sup.hotpath.refresh_soft_stops()

    async def _record(
        self, job: Job, started: float, status: str, energy_wh: float, method: str
    ) -> None:
        """Write the job's ledger entry (in the writer thread) before the job is answered."""
        ended = time.time()
        tariff = self.sup.config.ledger.tariff_per_kwh
        outcome = LEDGER_OUTCOMES.get(status, "failed")
        energy_method = LEDGER_METHODS.get(method, "estimate")
        written = trio.Event()

        def write(ledger: Ledger) -> None:
            ledger.record_job(
                job_id=job.job_id, request_id=job.job_id, model=job.model,
                started_at=_iso(started), ended_at=_iso(ended), outcome=outcome,
                energy_wh=round(energy_wh, 6), energy_method=energy_method,
                tariff_per_kwh=tariff,
            )

        self._queue_write(write, f"job {job.job_id}", written)
        # Bounded, so that a daemon being stopped (its writer cancelled) does not hang here.
        with trio.move_on_after(LEDGER_WAIT_S):
            await written.wait()
        self.recorded.add(job.job_id)
        self.finished += 1
        self.sup.facade.job_finished(job.job_id, outcome, details={"status": status})

    def _queue_write(self, write: LedgerWrite, what: str, done: trio.Event | None = None) -> None:
        def chore() -> None:
            with Ledger(self.ledger_path) as ledger:
                write(ledger)

        try:
            self._writes.send_nowait((chore, what, done))
        except trio.WouldBlock:
            LOG.error("the ledger writer is %d writes behind: %s is dropped", WRITE_BUFFER, what)
            if done is not None:
                done.set()

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """The desk's two threads: the ledger writer and the manifest installer, each doing
        one thing at a time, so that sqlite (with synchronous=FULL it waits for the disk) and
        hashing never hold up the hot path's thread. Before they start, the compute time the
        ledger shows for tonight goes to the budget's nightly cap (a restart must not reset
        it).

        Cancellation: the ledger write in progress finishes (shielded); an install in
        progress is abandoned (the old manifest stays until its atomic replacement); queued
        ones are dropped. Only a daemon that is being stopped cancels the desk.
        """
        await trio.to_thread.run_sync(self._refresh_earnings)
        job_ids, done_tonight = await trio.to_thread.run_sync(
            self._ledger_history, self.sup.budget.night_started(), self.sup.budget.wall_clock())
        # Receipts may come for jobs a previous process ran (a result republished from the
        # outbox after a restart): those jobs are in the ledger.
        self.recorded |= job_ids
        if done_tonight > 0:
            self.sup.budget.restore_computed_tonight(done_tonight)
            LOG.info("%.1f h of compute already done tonight (from the ledger)",
                     done_tonight / 3600)
        async with trio.open_nursery() as nursery:
            nursery.start_soon(self._install_loop)
            task_status.started()
            async for chore, what, done in self._receive_writes:
                with trio.CancelScope(shield=True):
                    try:
                        await trio.to_thread.run_sync(chore)
                    except Exception as exc:
                        LOG.error("%s failed: %s", what, exc)
                    if done is not None:
                        done.set()
                    await trio.to_thread.run_sync(self._refresh_earnings)

    async def _install_loop(self) -> None:
        async for install, what in self._receive_installs:
            try:
                await trio.to_thread.run_sync(install, abandon_on_cancel=True)
            except Exception as exc:
                LOG.error("%s failed: %s", what, exc)

    def _ledger_history(self, since: datetime, until: datetime) -> tuple[set[str], float]:
        """The ledger's job ids, and its compute time between `since` and `until`: one read."""
        if not self.ledger_path.exists():
            return set(), 0.0
        try:
            with Ledger(self.ledger_path, readonly=True) as ledger:
                jobs = [entry for _, entry in ledger.entries() if entry.kind == "job"]
            ids = {entry.job_id for entry in jobs if entry.job_id}
            return ids, compute_seconds_between(jobs, since, until)
        except Exception as exc:
            LOG.warning("cannot read the jobs in the ledger: %s", exc)
            return set(), 0.0

    def _refresh_earnings(self) -> None:
        if not self.ledger_path.exists():
            return
        try:
            with Ledger(self.ledger_path, readonly=True) as ledger:
                self._earnings = earnings(ledger, datetime.now(UTC),
                                          self.sup.config.ledger.currency)
        except Exception as exc:
            LOG.warning("cannot read earnings from the ledger: %s", exc)

    def earnings_view(self) -> dict[str, Any]:
        """Credits today and this month, as of the last ledger write."""
        return self._earnings

    def jobs_view(self) -> list[dict[str, Any]]:
        """Jobs running now."""
        now = time.monotonic()
        return [{"id": j.job_id, "model": j.model, "state": "running", "started": _iso(j.started),
                 "elapsed_s": round(now - j.started_mono, 1), "worker": j.model}
                for j in self.running.values()]


def _iso(t: float) -> str:
    return datetime.fromtimestamp(t, UTC).isoformat(timespec="seconds")
