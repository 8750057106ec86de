"""Conversions between the uplink's jobs and the sandbox worker pool's (``sandbox.jobs``).

For the daemon's `NodePort` (`job_desk.JobDesk.run_job`): ``run_job`` becomes
``pool_outcome(await pool.run_job(pool_job(job)), energy_j)``. No torch is imported
(``sandbox.jobs`` is plain data).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final

from sandbox import jobs as sandbox_jobs
from uplink.messages import FailureReason
from uplink.node_port import Job, JobFailure, JobResult

# The pool's statuses other than "ok", as the protocol's failure reasons.
POOL_REASONS: Final[Mapping[str, FailureReason]] = {
    "preempted": FailureReason.PREEMPTED,  # a hard stop or a kill during the job
    "stopped": FailureReason.PREEMPTED,  # refused because a stop is in force
    "cancelled": FailureReason.CANCELLED,  # stopped alone: the dispatcher cancelled it
    "crashed": FailureReason.CRASHED,
    # The node's own failure (a file it cannot read, a library, a bug): not the client's
    # input, so the job may be sent to another car.
    "node_error": FailureReason.CRASHED,
    "poison": FailureReason.POISON,
    "failed": FailureReason.POISON,  # bad input, unknown model, model error
    "unavailable": FailureReason.DECLINED,  # no warm worker in time
}


def pool_job(job: Job) -> sandbox_jobs.Job:
    """The pool's view of an accepted job (id, model, ciphertext)."""
    return sandbox_jobs.Job(job.job_id, job.model, job.sealed_input)


def pool_outcome(result: sandbox_jobs.JobResult, energy_j: float = 0.0) -> JobResult | JobFailure:
    """The uplink's answer for a pool result; `energy_j` comes from the budget's meter."""
    if result.ok and result.sealed is not None:
        return JobResult(
            result.sealed,
            worker_ms=result.compute_ms,
            energy_j=energy_j,
            extra={"worker_total_ms": result.total_ms},
        )
    reason = POOL_REASONS.get(result.status, FailureReason.CRASHED)
    return JobFailure(
        reason, f"{result.status}: {result.reason}" if result.reason else result.status
    )
