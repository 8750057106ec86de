"""The dispatcher's job log: one line per step, in words an operator reads."""

from __future__ import annotations

import logging
import re

import pytest

from uplink.dispatcher.submit import JobFailed
from uplink.local_port import LocalPort
from uplink.mesh import Mesh
from uplink.node import NodeUplink
from uplink.testing import running, seen_accepting, wait_until


def job_lines(caplog: pytest.LogCaptureFixture, job: str) -> list[str]:
    return [
        r.getMessage()
        for r in caplog.records
        if r.name.startswith("parkmesh.dispatcher") and r.getMessage().startswith(f"job {job}:")
    ]


async def test_each_step_of_a_job_is_one_line(mesh: Mesh, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="parkmesh.dispatcher")
    dispatcher = mesh.dispatcher(["car1", "car2"], ["alice"])
    fast, slow = LocalPort(), LocalPort(extra_delay_s=3.0)
    nodes = [
        NodeUplink.open(mesh.node_config("car1"), fast),
        NodeUplink.open(mesh.node_config("car2"), slow),
    ]
    client = mesh.client("alice")
    async with running(dispatcher, *nodes, client):
        await seen_accepting(dispatcher, "car1", "car2")
        out = await client.submit("hash", ["hello"], k=2, spares=0)
        await wait_until(lambda: len(job_lines(caplog, out.job)) >= 10, 10.0, "the job's lines")
    lines = job_lines(caplog, out.job)
    j = f"job {out.job}:"
    assert lines[0] == f"{j} alice asks for a quote: model hash, tier batch, k 2"
    assert re.fullmatch(
        rf"{j} quoted to alice: model hash, tier batch, k 2, cars car[12], car[12]", lines[1]
    )
    assert lines[2] == f"{j} alice submits 2 sealed inputs"
    assert sorted(lines[3:5]) == [
        f"{j} offer to car1 (model hash, tier batch, k 2)",
        f"{j} offer to car2 (model hash, tier batch, k 2)",
    ]
    assert f"{j} car1 accepted" in lines and f"{j} car2 accepted" in lines
    won = lines.index(f"{j} result from car1: the winner")
    assert re.fullmatch(rf"{j} done in \d+ ms by car1", lines[won + 1])
    assert lines[won + 2] == f"{j} receipt to car1: 0.001 USD"
    assert lines[won + 3] == f"{j} cancel to car2: another car won"


async def test_a_job_no_car_can_run_is_logged_as_failed(
    mesh: Mesh, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="parkmesh.dispatcher")
    dispatcher = mesh.dispatcher(["car1"], ["alice"])
    node = NodeUplink.open(mesh.node_config("car1"), LocalPort())
    client = mesh.client("alice")
    async with running(dispatcher, node, client):
        await seen_accepting(dispatcher, "car1")
        with pytest.raises(JobFailed) as failed:
            await client.submit("no-such-model", ["hello"], k=1)
    lines = job_lines(caplog, failed.value.job)
    assert lines[-1] == (
        f"job {failed.value.job}: failed: declined (no car can run 'no-such-model' at tier "
        "batch now)"
    )
