"""The job desk on a batching decoder worker: it offers ``max_batch`` slots and takes jobs
while fewer run."""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path

import pytest
import trio

from sandbox.config import SandboxConfig
from sandbox.jobs import seal_generate_job
from sandbox.models.provision import provision_models
from supervisor.daemon.job_desk import JobDesk
from tests.sandbox.conftest import root_only
from uplink.messages import Tier
from uplink.node_port import Job, JobFailure, JobResult

from .test_job_desk import _park, _supervisor

pytestmark = [pytest.mark.slow, pytest.mark.timeout(180), root_only]
MODEL = "tiny-llama-test"


def _generate(desk: JobDesk, job_id: str, new: int) -> Job:
    sealed, _ = seal_generate_job(
        job_id, MODEL, desk.pool.worker_public_key, ["A parked car"], max_new_tokens=new
    )
    return Job(job_id, MODEL, Tier.BATCH, time.time() + 120, sealed.sealed)


async def test_a_batching_worker_offers_its_slots(tmp_path: Path, node: SandboxConfig) -> None:
    from sandbox.session import open_pool

    provision_models(node.models_dir)
    config = dataclasses.replace(node, models=(MODEL,), max_batch=2)
    sup = _supervisor(tmp_path)
    answers: list[JobResult | JobFailure] = []
    async with open_pool(config) as pool, trio.open_nursery() as nursery:
        desk = sup.desk_for(pool)
        await nursery.start(desk.run)
        _park(sup)
        status = desk.status_snapshot()
        assert status.slots == 2 and status.accepting, status.reasons

        async def run(job_id: str) -> None:
            answers.append(await desk.run_job(_generate(desk, job_id, 400)))

        async with trio.open_nursery() as jobs:
            jobs.start_soon(run, "first")
            with trio.fail_after(60):
                await pool.changes.wait_until(lambda: len(desk.running) == 1 or bool(answers))
            assert not answers, answers
            assert desk.status_snapshot().accepting  # one of two slots taken
            jobs.start_soon(run, "second")
            with trio.fail_after(60):
                await pool.changes.wait_until(lambda: len(desk.running) == 2 or bool(answers))
            full = desk.status_snapshot()
            assert not full.accepting and full.slots == 2
            assert full.reasons == ("busy with 2 jobs",)
        assert desk.status_snapshot().accepting
        nursery.cancel_scope.cancel()
    assert all(isinstance(a, JobResult) for a in answers), answers
