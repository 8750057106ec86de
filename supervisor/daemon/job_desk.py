"""The job desk: runs the uplink's jobs on the worker pool and accounts for each one.

It is the daemon's `uplink.node_port.NodePort`: it answers the uplink's status polls from the
policy, the budget and the pool; runs a job only while the policy accepts; marks the car
SERVING while a job runs (so the policy, the budget's hours cap and the TUI know); meters the
job's energy; and gives every job it is handed exactly one ledger row, whatever ends it:

* refused at once (the car stopped serving): a ``preempted`` row, no compute, no energy;
* before the job reaches a worker, its in-flight marker is committed, refreshed at most once
  a second while it runs, and deleted in the transaction that writes its row, before it is
  answered;
* a marker left by a daemon that died becomes the job's ``failed`` row at the next start,
  before the desk reports started (`Ledger.recover_inflight`).

The markers and rows are kept by `JobBooks` through the `LedgerWriter` (the one ledger
connection); manifests go to the `ManifestInstaller`.
"""

from __future__ import annotations

import contextlib
import functools
import json
import logging
import math
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import trio

from sandbox.jobs import JobResult as PoolResult
from supervisor.ledger.config import LedgerConfig
from thermal.accounting import JobEnergy, open_job_meter
from thermal.nvml import NvmlDevice
from uplink.messages import FailureReason
from uplink.node_port import Curtailment, Job, JobFailure, JobResult, NodeStatus, PartialSink

from .job_books import MARKER_REFRESH_S, JobBooks, RowNotWritten, RunningJob
from .job_desk_ports import DeskBudget, DeskCar, DeskPool, JobNews
from .ledger_writer import LedgerWriter
from .manifest_installer import ManifestInstaller
from .pool_bridge import pool_job, pool_outcome

__all__ = ["MARKER_REFRESH_S", "JobDesk", "RunningJob"]

LOG = logging.getLogger("parkmesh.jobs")


class JobDesk:
    """Implements `uplink.node_port.NodePort` over the daemon's pool, policy, budget and ledger.

    `run` is its trio service (the ledger writer, the installer, the marker refresher); start
    it before the uplink. `wait_idle` is for the daemon's shutdown.

    Args:
        pool: runs the jobs.
        ledger_path: the earnings ledger's file.
        car: the hot path (may a job start; the dispatcher's drain; the busy flag).
        budget: the thermal budget (the power allowed; curtailments; the nightly cap).
        installer: verifies and installs the dispatcher's model manifests.
        device: the GPU whose energy counter meters the jobs (None: RAPL or the estimate).
        ledger: the ``[ledger]`` section (tariff, currency).
        news: told of every finished job.
    """

    def __init__(
        self,
        pool: DeskPool,
        ledger_path: Path,
        *,
        car: DeskCar,
        budget: DeskBudget,
        installer: ManifestInstaller,
        device: NvmlDevice | None,
        ledger: LedgerConfig,
        news: JobNews,
        kind: str = "car",
    ) -> None:
        self.pool = pool
        self.kind = kind  # the node kind the dispatcher sees in the status
        self.ledger_path = ledger_path
        self.car = car
        self.budget = budget
        self.ledger = ledger
        self.news = news
        self.writer = LedgerWriter(ledger_path)
        self.installer = installer
        # Not gated on the busy flag: the meter counts only the intervals in which a job ran.
        meter = open_job_meter(device, self._power_w, clock=trio.current_time)
        self.books = JobBooks(
            self.writer, meter, self._power_w, ledger.tariff_per_kwh, ledger.currency
        )
        self.running = self.books.running
        self.finished = 0
        self._curtailments: set[str] = set()

    # -- NodePort ------------------------------------------------------------------------------

    def status_snapshot(self) -> NodeStatus:
        """May a job start now, and what the car offers."""
        decision = self.car.decision
        budget = self.budget.decision
        warm = [s for s in self.pool.statistics() if s.state in ("ready", "busy")]
        models = tuple(s.model for s in warm)
        # Jobs the node takes at once: its widest worker's (a batching decoder's max_batch;
        # 1 otherwise). The dispatcher counts its running jobs against it.
        slots = max((s.capacity for s in warm), default=1)
        full = len(self.running) >= slots
        accepting = decision.accepting and not full and bool(models)
        reasons = tuple(r.text for r in decision.reasons)
        if decision.accepting and not models:
            reasons = ("no warm worker yet",)
        busy = "busy with a job" if slots == 1 else f"busy with {len(self.running)} jobs"
        return NodeStatus(
            accepting=accepting,
            reasons=() if accepting else reasons or (busy,),
            models=models,
            allowed_power_w=budget.allowed_w if budget else 0.0,
            runway_s=(
                budget.runway_s if budget and not math.isinf(budget.runway_s) else 24 * 3600.0
            ),
            worker_key=self.pool.worker_public_key,
            slots=slots,
            kind=self.kind,
            metered_links_allowed=self.budget.preferences.metered_links_allowed,
        )

    async def run_job(
        self, job: Job, partials: PartialSink | None = None
    ) -> JobResult | JobFailure:
        """Run one accepted job to its end; never raises for a job-level failure. A streamed
        job's sealed chunks go to `partials` as the worker sends them.

        The job's ledger row is committed before this returns (see the module docstring).

        Raises:
            RowNotWritten: the finished job's row did not commit (logged): the job is not to
                be answered as done (the uplink answers it crashed), and its marker makes the
                row at the next start.
        Cancellation: the worker's job is abandoned (the pool stops it), the row is written
        all the same (shielded), then Cancelled propagates.
        """
        decision = self.car.decision
        if not decision.accepting:
            why = "; ".join(r.text for r in decision.reasons) or str(decision.phase)
            now = time.time()
            # Nothing ran, so nothing is lost if this row fails (it is logged).
            with trio.CancelScope(shield=True), contextlib.suppress(RowNotWritten):
                await self._record(job, now, now, "preempted", None)
            return JobFailure(FailureReason.PREEMPTED, f"not serving: {why}")
        with self.writer.lease():
            try:
                running = await self.books.begin(job.job_id, job.model)
            except Exception as exc:
                LOG.error("job %s: its in-flight marker cannot be written: %s", job.job_id, exc)
                return JobFailure(FailureReason.CRASHED, "the ledger cannot be written")
            self._set_busy(True)
            # A job whose task is cancelled (another car won) is recorded as cancelled.
            status = "cancelled"
            result: PoolResult | None = None
            try:
                # Overlapping jobs share the energy by the tokens each put through.
                work = functools.partial(self.books.work, job.job_id)
                result = await self.pool.run_job(pool_job(job), partials, work)
                status = result.status
            except Exception as exc:
                LOG.error("job %s: the worker pool failed: %s", job.job_id, exc)
                status = "crashed"
            finally:
                # The meter is read before the busy flag drops (the estimate needs no flag).
                ended, energy = time.time(), self.books.end(job.job_id)
                self._set_busy(bool(self.running))
                # Shielded, so the row is written also when the job's task is cancelled, but
                # bounded: a disk that hangs must not keep a stopping daemon from exiting
                # (the marker then makes the row at the next start).
                bound = self.writer.shield_bound_s()
                with trio.CancelScope(shield=True), trio.move_on_after(bound) as waited:
                    await self._record(job, running.started, ended, status, energy)
                if waited.cancelled_caught:
                    raise RowNotWritten(f"job {job.job_id}: the ledger did not answer in time")
        if result is None:
            return JobFailure(FailureReason.CRASHED, "the worker pool failed")
        return pool_outcome(result, energy.joules)

    async def record_receipt(
        self, job_id: str, receipt_id: str, credit: float, currency: str
    ) -> None:
        """The dispatcher's receipt for a job this car won: its credit goes into the ledger.

        Returns once the receipt's row has committed, or at once when the ledger already has
        that receipt id (a redelivery). Only then may the uplink note the receipt as taken.

        Raises:
            ValueError: the receipt is malformed, or its job has no row in the ledger (this
                car did not run it).
            WriterClosed: the ledger writer is not running (nothing written).
            sqlite3.Error: the write failed (nothing written).
        Cancellation: the write may still commit (a redelivery is then a no-op).
        """
        if not receipt_id or not math.isfinite(credit) or credit < 0:
            raise ValueError(f"receipt {receipt_id!r} for job {job_id}: bad credit {credit!r}")
        if currency != self.ledger.currency:
            LOG.warning(
                "receipt %s is in %s, the ledger in %s", receipt_id, currency, self.ledger.currency
            )
        if await self.books.receipt(job_id, receipt_id, credit):
            LOG.info("receipt %s: %.4f %s for job %s", receipt_id, credit, currency, job_id)

    async def record_interrupted(self, job_id: str, model: str, started_at: float) -> None:
        """A job the uplink's journal shows as running when the daemon last stopped: make sure
        it has its one ledger row (nothing if it has one; else its marker's row, or, without
        a marker, a ``failed`` row with no compute and no energy: it never reached a worker).
        Returns after the commit.

        Raises:
            WriterClosed, sqlite3.Error, LedgerError: nothing was written.
        """
        entry = await self.books.interrupted(job_id, model, started_at)
        if entry is not None:
            LOG.warning(
                "job %s was running when the daemon stopped: recorded as %s", job_id, entry.outcome
            )

    def cancel_job(self, job_id: str) -> bool:
        """Stop a running job through its worker's stop flag (another car won, or its deadline
        passed); `run_job` then answers it as cancelled."""
        return self.pool.stop_job_nowait(job_id)

    def add_curtailment(self, event: Curtailment) -> None:
        """Obey a dispatcher's demand-response window.

        Raises:
            ValueError: the window is malformed.
        """
        if not (
            math.isfinite(event.start)
            and math.isfinite(event.until)
            and event.until > event.start
            and event.max_power_w >= 0
        ):
            raise ValueError(f"curtailment {event.id!r}: empty window or negative power")
        if event.id and event.id in self._curtailments:
            return  # redelivered
        baseline_w = self.budget.config.host_baseline_w
        self.budget.add_curtailment_json(
            json.dumps(
                {
                    "id": event.id,
                    "start": datetime.fromtimestamp(event.start, UTC).isoformat(),
                    "duration_s": event.until - event.start,
                    # The dispatcher caps compute; the budget's import limit counts the host too.
                    "import_limit_kw": (event.max_power_w + baseline_w) / 1000.0,
                }
            )
        )
        self._curtailments.add(event.id)

    async def drain(self) -> None:
        """The dispatcher asks: stop taking jobs; running ones finish. Kept apart from the
        technician's drain, so that a dispatcher's resume cannot lift it."""
        self.car.set_soft_stop("dispatcher", ["drained by the dispatcher"])
        LOG.info("drained by the dispatcher")

    async def resume(self) -> None:
        """The dispatcher's drain ends."""
        self.car.set_soft_stop("dispatcher", [])
        LOG.info("resumed by the dispatcher")

    def update_manifest(self, name: str, document: bytes) -> None:
        """Verify and install a signed model manifest (`ManifestInstaller.submit`).

        Raises:
            ManifestError: the model is not one this car runs, or the signature or the
                document does not verify, or too many installs are waiting.
        """
        self.installer.submit(name, document)

    # -- shutdown ------------------------------------------------------------------------------

    async def wait_idle(self) -> None:
        """Return once no job is running and every queued ledger write has committed (or
        failed). The daemon's shutdown calls it within its grace deadline, after the hard
        stop, before it cancels the services.

        Cancellation: only the wait ends.
        """
        await self.writer.wait_idle()

    # -- accounting ----------------------------------------------------------------------------

    def _power_w(self) -> float:
        """The compute power the budget allows now (its nominal figure before its first
        decision): the estimate's power."""
        decision = self.budget.decision
        if decision is None:
            return self.budget.config.nominal_compute_w
        return decision.allowed_w

    def _set_busy(self, busy: bool) -> None:
        self.car.set_busy(busy)
        self.budget.set_busy(busy)

    async def _record(
        self, job: Job, started: float, ended: float, status: str, energy: JobEnergy | None
    ) -> None:
        """Commit the job's row (deleting its marker) before the job is answered."""
        outcome = await self.books.record(job.job_id, job.model, started, ended, status, energy)
        self.finished += 1
        self.news.job_finished(job.job_id, outcome, details={"status": status})

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Open the ledger (the writer), turn markers left by a daemon that died into their
        rows, give the budget's nightly cap the compute the ledger shows for tonight (a
        restart must not reset it), read the earnings, then report started and serve: the
        writer, the manifest installer and the marker refresher.

        Raises:
            sqlite3.Error, LedgerError: the ledger cannot be opened, migrated or recovered
                (before ``started``): the desk does not serve without its ledger.
        Cancellation: the writer keeps serving while a job runs or writes are queued (its
        grace, shielded), so a running job's row is still written; an install in progress
        is abandoned (the old manifest stays).
        """
        async with trio.open_nursery() as nursery:
            await nursery.start(self.writer.run)
            done_tonight = await self.books.open_books(
                self.budget.night_started(), self.budget.wall_clock()
            )
            if done_tonight > 0:
                self.budget.restore_computed_tonight(done_tonight)
                LOG.info(
                    "%.1f h of compute already done tonight (from the ledger)", done_tonight / 3600
                )
            await nursery.start(self.installer.run)
            nursery.start_soon(self.books.refresh_markers)
            task_status.started()

    # -- views ---------------------------------------------------------------------------------

    def earnings_view(self) -> dict[str, Any]:
        """Credits today and this month, and the month's unpaid credits (kept incrementally
        from the ledger's writes; empty before the desk has read the ledger)."""
        return self.books.earnings_view()

    def jobs_view(self) -> list[dict[str, Any]]:
        """Jobs running now."""
        now = time.monotonic()
        return [
            {
                "id": j.job_id,
                "model": j.model,
                "state": "running",
                "started": _iso(j.started),
                "elapsed_s": round(now - j.started_mono, 1),
                "worker": j.model,
            }
            for j in self.running.values()
        ]


def _iso(t: float) -> str:
    return datetime.fromtimestamp(t, UTC).isoformat(timespec="seconds")
