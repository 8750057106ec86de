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
import tempfile
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import trio

from sandbox.models.errors import ManifestError
from sandbox.models.manifest import MANIFEST_NAME, load_manifest, verify_files
from supervisor.ledger import Ledger
from supervisor.ledger.statement import earnings
from uplink.messages import FailureReason
from uplink.node_port import Curtailment, Job, JobFailure, JobResult, NodeStatus
from uplink.pool_bridge import pool_job, pool_outcome

if TYPE_CHECKING:
    from sandbox.pool import WorkerPool

    from .app import Supervisor

LOG = logging.getLogger("parkmesh.jobs")

# Earnings are read from the ledger at most this often for the API's polls (and after a job).
EARNINGS_REFRESH_S = 60.0


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
        self._earnings_at = -math.inf
        self.finished = 0

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
        self.meter.start(job.job_id)
        outcome: JobResult | JobFailure = JobFailure(FailureReason.CRASHED, "daemon stopped")
        status = "failed"
        try:
            result = await self.pool.run_job(pool_job(job))
            status = result.status
            energy = self.meter.finish(job.job_id)
            outcome = pool_outcome(result, energy.joules)
        finally:
            self.running.pop(job.job_id, None)
            self._set_busy(bool(self.running))
        with trio.CancelScope(shield=True):
            await self._record(job, now, status, energy.joules / 3600.0, energy.method)
        return outcome

    def cancel_job(self, job_id: str) -> bool:
        """Another car won: the uplink then cancels the job's task, which abandons it."""
        return False

    def add_curtailment(self, event: Curtailment) -> None:
        """Obey a dispatcher's demand-response window.

        Raises:
            ValueError: the window is malformed.
        """
        self.sup.budget.add_curtailment_json(json.dumps(event.to_json()))

    async def drain(self) -> None:
        """Stop taking jobs; running ones finish."""
        await self.sup.facade.drain()

    async def resume(self) -> None:
        """Take jobs again."""
        await self.sup.facade.resume()

    def update_manifest(self, name: str, document: bytes) -> None:
        """Verify and install a signed model manifest.

        Raises:
            ManifestError: it does not verify.
        """
        model_dir = self.pool.config.models_dir / name
        if not model_dir.is_dir():
            raise ManifestError(f"model {name!r} is not provisioned on this car")
        with tempfile.TemporaryDirectory(dir=model_dir.parent) as tmp:
            staged = Path(tmp) / name
            staged.mkdir()
            (staged / MANIFEST_NAME).write_bytes(document)
            # The signature, the model name and every pinned file must check out before the
            # new manifest replaces the old one; the workers load it at their next start.
            manifest = load_manifest(staged, self.pool.facts.operator_public_key)
            verify_files(model_dir, manifest)
            os.replace(staged / MANIFEST_NAME, model_dir / MANIFEST_NAME)
        LOG.info("model manifest for %s updated", name)

    # -- accounting ----------------------------------------------------------------------------

    def _set_busy(self, busy: bool) -> None:
        self.sup.policy.set_busy(busy)
        self.sup.budget.set_busy(busy)
        self.sup.hotpath.refresh_soft_stops()

    async def _record(self, job: Job, started: float, status: str, energy_wh: float,
                      method: str) -> None:
        ended = time.time()
        outcome = "ok" if status == "ok" else status

        def write() -> None:
            with Ledger(self.ledger_path) as ledger:
                ledger.record_job(
                    job_id=job.job_id, request_id=job.job_id, model=job.model,
                    started_at=_iso(started), ended_at=_iso(ended), outcome=outcome,
                    energy_wh=round(energy_wh, 6), energy_method=method,
                    tariff_per_kwh=self.sup.config.ledger.tariff_per_kwh,
                )

        try:
            await trio.to_thread.run_sync(write)
        except Exception as exc:
            LOG.error("cannot record job %s in the ledger: %s", job.job_id, exc)
        self.finished += 1
        self._earnings_at = -math.inf
        self.sup.facade.job_finished(job.job_id, outcome)

    def earnings_view(self) -> dict[str, Any]:
        """Credits today and this month (cached; refreshed after each job)."""
        now = time.monotonic()
        if now - self._earnings_at >= EARNINGS_REFRESH_S and self.ledger_path.exists():
            try:
                with Ledger(self.ledger_path, readonly=True) as ledger:
                    self._earnings = earnings(ledger, datetime.now(UTC),
                                              self.sup.config.ledger.currency)
            except Exception as exc:
                LOG.warning("cannot read earnings from the ledger: %s", exc)
            self._earnings_at = now
        return self._earnings

    def jobs_view(self) -> list[dict[str, Any]]:
        """Jobs running now."""
        now = time.monotonic()
        return [{"id": j.job_id, "model": j.model, "state": "running", "started": _iso(j.started),
                 "elapsed_s": round(now - j.started_mono, 1), "worker": j.model}
                for j in self.running.values()]


def _iso(t: float) -> str:
    return datetime.fromtimestamp(t, UTC).isoformat(timespec="seconds")
