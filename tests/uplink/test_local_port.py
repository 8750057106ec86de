"""The stand-in executor opens requests as a worker does, and fails poison and stops."""

from __future__ import annotations

import json

import cbor2
import pytest
import trio
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

from sandbox.hpke import open_sealed
from sandbox.jobs import output_info, seal_encode_job
from supervisor.cli import main
from uplink.local_port import LocalPort
from uplink.messages import FailureReason, Tier
from uplink.node_port import Job, JobFailure, JobResult


def job_for(port: LocalPort, text: str, model: str = "hash") -> tuple[Job, bytes]:
    key = port.worker_key.public_key().public_bytes_raw()
    sealed, reply = seal_encode_job("j1", model, key, [text])
    return Job("j1", model, Tier.BATCH, 1e12, sealed.sealed), reply


async def test_result_opens_with_the_reply_key() -> None:
    port = LocalPort()
    job, reply = job_for(port, "hi")
    result = await port.run_job(job)
    assert isinstance(result, JobResult)
    output = cbor2.loads(open_sealed(reply, result.sealed_output, output_info("hash")))
    assert output["texts"][0].startswith("8f434346")  # sha256("hi")


async def test_input_sealed_to_another_key_is_poison() -> None:
    port = LocalPort()
    job, _ = job_for(LocalPort(worker_key=X25519PrivateKey.generate()), "hi")
    result = await port.run_job(job)
    assert isinstance(result, JobFailure)
    assert result.reason is FailureReason.POISON


async def test_preempt_stops_a_running_job() -> None:
    port = LocalPort()
    job, _ = job_for(port, "sleep:30")
    async with trio.open_nursery() as nursery:
        results: list[JobResult | JobFailure] = []

        async def run() -> None:
            results.append(await port.run_job(job))

        nursery.start_soon(run)
        await trio.sleep(0.05)
        port.preempt("gear out of park")
    assert results == [JobFailure(FailureReason.PREEMPTED, "stopped")]
    assert port.status_snapshot().reasons == ("gear out of park",)


def test_bench_command_reports_the_keys(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["bench", "uplink", "--jobs", "20", "--warmup", "2", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["n"] == 20
    assert 0 < out["p50_ms"] <= out["p99_ms"]
