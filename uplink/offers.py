"""Whether an offer is taken, and the answer to one: the node's admission of a job, decided at
once. Pure, synchronous.

An offer is declined (``failure`` with reason ``declined`` and a detail in words) when the car
is not accepting (and the policy's reasons say why), is draining, has no free slot, has not
loaded the model, or sits on a link too slow for the offer's tier; an offer whose deadline has
passed is answered ``expired``. A job id this car has seen before is ignored (it was answered,
or it runs): a job never runs twice.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from .messages import FailureReason, Tier
from .node_port import Job, JobFailure, JobResult, NodeStatus

METERED_REFUSED = "the owner does not allow jobs over a metered link"


@dataclass(frozen=True, slots=True)
class Refusal:
    """The answer to an offer that is not run."""

    reason: FailureReason
    detail: str

    def body(self, job_id: str) -> dict[str, Any]:
        """The ``failure`` body that answers the offer of `job_id`."""
        return {"job": job_id, "reason": self.reason.value, "detail": self.detail}


def answer_of(
    job: Job, outcome: JobResult | JobFailure, timings: Mapping[str, float]
) -> tuple[str, dict[str, Any]]:
    """The final answer to a job that ran: ``("result", body)`` or ``("failure", body)``."""
    if isinstance(outcome, JobResult):
        return "result", {
            "job": job.job_id,
            "output": outcome.sealed_output,
            "timings": {k: round(float(v), 3) for k, v in timings.items()},
            "energy_j": float(outcome.energy_j),
        }
    return "failure", Refusal(outcome.reason, outcome.detail).body(job.job_id)


def job_from_offer(body: Mapping[str, Any]) -> Job:
    """The `Job` an offer's (schema-checked) body describes."""
    return Job(
        job_id=body["job"],
        model=body["model"],
        tier=Tier(body["tier"]),
        deadline=float(body["deadline"]),
        sealed_input=body["input"],
    )


def decide(
    job: Job,
    status: NodeStatus,
    *,
    now: float,
    running: int,
    draining: bool,
    tier: Tier,
    metered: bool = False,
) -> Refusal | None:
    """None to accept `job` now, else the `Refusal` to send. `metered`: the link is metered
    now (cellular, satellite), which the owner may forbid for jobs."""
    if job.deadline <= now:
        return Refusal(FailureReason.EXPIRED, f"deadline passed {now - job.deadline:.3f} s ago")
    if draining:
        return Refusal(FailureReason.DECLINED, "draining")
    if not status.accepting:
        why = "; ".join(status.reasons) or "not eligible"
        return Refusal(FailureReason.DECLINED, f"not accepting: {why}")
    if running >= status.slots:
        return Refusal(FailureReason.DECLINED, f"busy ({running} of {status.slots} slots)")
    if job.model not in status.models:
        return Refusal(FailureReason.DECLINED, f"model {job.model!r} is not loaded")
    if job.tier is Tier.INTERACTIVE and tier is not Tier.INTERACTIVE:
        return Refusal(FailureReason.DECLINED, "link is too slow or metered for interactive")
    if metered and not status.metered_links_allowed:
        return Refusal(FailureReason.DECLINED, METERED_REFUSED)
    return None
