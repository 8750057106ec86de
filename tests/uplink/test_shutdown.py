"""A car that stops: offers declined, the running job answered and acknowledged, then quiet;
and the jobs a stopped car left running reach the ledger at the next start."""

from __future__ import annotations

import contextlib
import logging
import time
from dataclasses import dataclass
from pathlib import Path

import pytest
import trio

from uplink.broker import Mosquitto
from uplink.client import Inbound
from uplink.dispatcher.submit import JobFailed
from uplink.local_port import LocalPort
from uplink.mesh import Mesh
from uplink.node import NodeUplink
from uplink.store import NodeStore
from uplink.testing import running, seen_accepting, wait_until


async def test_stop_taking_jobs_then_wait_quiet_returns_after_the_answers_puback(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="parkmesh.uplink")
    # A broker of its own: this test stops it.
    with Mosquitto(tmp_path / "broker") as broker:
        mesh = Mesh.create(tmp_path / "mesh", broker)
        port = LocalPort()
        node = NodeUplink.open(mesh.node_config("car1"), port)
        dispatcher = mesh.dispatcher(["car1"], ["alice"])
        client = mesh.client("alice")
        async with running(dispatcher, node, client) as nursery:
            await seen_accepting(dispatcher, "car1")

            async def submit() -> None:
                with contextlib.suppress(JobFailed):
                    await client.submit("hash", ["sleep:30:slow"], k=1, spares=0)

            nursery.start_soon(submit)
            await wait_until(lambda: node.running_jobs, what="the job to start")
            (job,) = node.running_jobs
            node.stop_taking_jobs()
            with trio.move_on_after(0.3) as busy:
                await node.wait_quiet()
            assert busy.cancelled_caught  # a job runs
            await wait_until(
                lambda: not dispatcher.core.nodes["car1"].accepting,
                what="the status saying so",
            )
            assert "the car is shutting down" in dispatcher.core.nodes["car1"].reasons

            await trio.to_thread.run_sync(broker.stop)
            try:
                port.preempt("the daemon is stopping")  # what the daemon does to its workers
                await wait_until(lambda: not node.running_jobs, what="the job to stop")
                assert node.outbox.unacked == 1
                with trio.move_on_after(0.5) as waiting:
                    await node.wait_quiet()
                assert waiting.cancelled_caught  # the broker is down: not acknowledged yet
            finally:
                await trio.to_thread.run_sync(broker.start)
            with trio.fail_after(10):
                await node.wait_quiet()
            assert node.outbox.unacked == 0
            assert await node.journal.run(NodeStore.pending) == []
            assert await node.journal.run(NodeStore.state_of, job) == "answered"
            await wait_until(
                lambda: dispatcher.received[("car1", "failure", job)] == 1, what="the answer"
            )

            # An offer that still comes is declined, saying why.
            offer = dispatcher.signer.seal(
                "offer",
                {
                    "job": "late",
                    "model": "hash",
                    "tier": "batch",
                    "deadline": time.time() + 60,
                    "input": b"x",
                },
                to="car1",
                ttl_s=60,
            )
            await node.handle(Inbound("in", offer, False))
            assert await node.journal.run(NodeStore.state_of, "late") == "declined"
            assert port.started == [job]
            with trio.fail_after(10):
                await node.wait_quiet()
    declined = [r.getMessage() for r in caplog.records if "declined job late" in r.getMessage()]
    assert declined and "the car is shutting down" in declined[0]


@dataclass
class BrokenLedger(LocalPort):
    """A port whose ledger cannot be written."""

    async def record_interrupted(self, job_id: str, model: str, started_at: float) -> None:
        raise OSError("the ledger's disk is full")


async def test_a_job_left_running_gets_its_ledger_row_before_its_crashed_answer(
    mesh: Mesh,
) -> None:
    config = mesh.node_config("car1")
    store = NodeStore(config.state_file)
    assert store.begin_job("j-int", "hash", 1_800_000_000.5)
    store.close()

    broken = NodeUplink.open(config, BrokenLedger())
    async with running(broken):
        pass
    # Not answered without its ledger row: still running, for the next start.
    assert not broken.answered
    store = NodeStore(config.state_file)
    assert store.state_of("j-int") == "running"
    store.close()

    port = LocalPort()
    node = NodeUplink.open(config, port)
    async with running(node):
        assert port.interrupted == [("j-int", "hash", 1_800_000_000.5)]
        assert node.answered["failure"] == 1
        assert await node.journal.run(NodeStore.state_of, "j-int") == "answered"
        with trio.fail_after(10):
            await node.wait_quiet()  # the crashed answer was acknowledged

    again = LocalPort()
    async with running(NodeUplink.open(config, again)):
        pass
    assert again.interrupted == []  # answered now: never recorded twice


async def test_local_port_records_an_interrupted_job_once() -> None:
    port = LocalPort()
    await port.record_interrupted("j1", "hash", 5.0)
    await port.record_interrupted("j1", "hash", 5.0)
    assert port.interrupted == [("j1", "hash", 5.0)]
    await port.record_receipt("j1", "r1", 0.1, "USD")  # it counts as run here
    assert [r.receipt_id for r in port.receipts] == ["r1"]
