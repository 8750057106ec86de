"""The job runner: each job answered once, with the reason it was stopped for."""

from __future__ import annotations

import time

import trio

from sandbox.jobs import seal_encode_job
from uplink.job_runner import JobRunner, Outcome
from uplink.local_port import LocalPort
from uplink.messages import FailureReason, Tier
from uplink.node_port import Job, JobFailure


def _job(port: LocalPort, job_id: str, deadline: float) -> Job:
    key = port.worker_key.public_key().public_bytes_raw()
    sealed, _ = seal_encode_job(job_id, "hash", key, ["sleep:30"])
    return Job(job_id, "hash", Tier.BATCH, deadline, sealed.sealed)


async def _run(stop: FailureReason | None, deadline_in_s: float) -> tuple[list[Outcome], bool]:
    """Run one 30 s job; stop it with `stop` after 0.1 s (if given); returns the answers and
    whether the job still counted as running while it was being answered."""
    port = LocalPort()
    answers: list[Outcome] = []
    running_while_answered: list[bool] = []

    async def finish(job: Job, outcome: Outcome, timings: dict[str, float]) -> None:
        running_while_answered.append(job.job_id in runner.running)
        await trio.sleep(0.01)  # a journal write
        answers.append(outcome)

    runner = JobRunner(port, finish, time.time)
    with trio.fail_after(10):
        async with trio.open_nursery() as nursery:
            runner.bind(nursery)
            runner.start(_job(port, "j1", time.time() + deadline_in_s))
            await trio.sleep(0.1)
            if stop is not None:
                assert runner.stop("j1", stop)
    assert not runner.running
    return answers, all(running_while_answered)


async def test_a_cancelled_job_is_answered_cancelled_once() -> None:
    answers, running = await _run(FailureReason.CANCELLED, 60)
    assert [a.reason for a in answers if isinstance(a, JobFailure)] == [FailureReason.CANCELLED]
    assert len(answers) == 1 and running


async def test_a_job_past_its_deadline_is_answered_expired() -> None:
    answers, running = await _run(None, 0.3)
    assert [a.reason for a in answers if isinstance(a, JobFailure)] == [FailureReason.EXPIRED]
    assert len(answers) == 1 and running
