"""The pool's results as the protocol's answers (`supervisor.daemon.pool_bridge`)."""

from __future__ import annotations

from sandbox.jobs import JobResult as PoolResult
from supervisor.daemon.pool_bridge import pool_job, pool_outcome
from uplink.messages import FailureReason, Tier
from uplink.node_port import Job, JobFailure, JobResult


def test_pool_results_map_to_protocol_answers() -> None:
    job = Job("j9", "minilm", Tier.BATCH, 1e12, b"sealed")
    assert pool_job(job).sealed == b"sealed"
    ok = pool_outcome(PoolResult("j9", "minilm", "ok", b"out", compute_ms=3.0), 2.5)
    assert ok == JobResult(b"out", 3.0, 2.5, {"worker_total_ms": 0.0})
    stopped = pool_outcome(PoolResult("j9", "minilm", "preempted", reason="door"))
    assert stopped == JobFailure(FailureReason.PREEMPTED, "preempted: door")
    failed = pool_outcome(PoolResult("j9", "minilm", "failed"))
    assert isinstance(failed, JobFailure)
    assert failed.reason is FailureReason.POISON
    # The node's own failure is not the client's input: another car may run the job.
    node = pool_outcome(PoolResult("j9", "minilm", "node_error", reason="internal: OSError"))
    assert node == JobFailure(FailureReason.CRASHED, "node_error: internal: OSError")
