"""Nothing lost, nothing twice: a broker restart and a SIGKILLed car, mid-job."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import trio

from uplink.broker import Mosquitto
from uplink.local_port import LocalPort
from uplink.mesh import Mesh
from uplink.node import NodeUplink
from uplink.store import NodeStore
from uplink.testing import running, seen_accepting, wait_until

pytestmark = pytest.mark.slow


async def test_broker_restart_mid_job_delivers_the_result_once(
    mesh: Mesh, broker: Mosquitto
) -> None:
    node = NodeUplink.open(mesh.node_config("car1"), LocalPort())
    dispatcher = mesh.dispatcher(["car1"], ["alice"])
    client = mesh.client("alice")
    async with running(dispatcher, node, client) as nursery:
        await seen_accepting(dispatcher, "car1")
        results = []

        async def submit() -> None:
            results.append(await client.submit("hash", ["sleep:0.8:payload"], k=1))

        nursery.start_soon(submit)
        await wait_until(lambda: node.running_jobs, what="the job to start")
        (job,) = node.running_jobs
        await trio.to_thread.run_sync(broker.stop)
        try:
            # The job finishes while the broker is down: its result waits in the outbox.
            await wait_until(lambda: not node.running_jobs, 5.0, "the job to finish")
            assert node.snapshot()["outbox"] == 1
        finally:
            # Also when this test fails: the module's other tests use the broker.
            await trio.to_thread.run_sync(broker.start)
        await wait_until(lambda: results, 20.0, "the result after the restart")
        await wait_until(lambda: node.snapshot()["outbox"] == 0, 5.0, "the PUBACK")
        await wait_until(lambda: node.receipts["recorded"] == 1, 5.0, "the receipt")
        await trio.sleep(0.3)  # room for a duplicate to show up
    assert results[0].job == job
    assert dispatcher.received[("car1", "result", job)] == 1
    assert len(results) == 1
    assert node.receipts == {"recorded": 1}  # one result, one receipt


async def test_killed_car_answers_its_job_once_after_restart(mesh: Mesh, tmp_path: Path) -> None:
    config = tmp_path / "car1.toml"
    config.write_text(mesh.node_toml("car1"))
    worker_key = tmp_path / "car1.worker"

    def start_car() -> subprocess.Popen[bytes]:
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "supervisor.cli.node_main",
                str(config),
                "--worker-key",
                str(worker_key),
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            cwd=Path(__file__).resolve().parents[2],
        )
        assert proc.stdout is not None
        with proc.stdout:
            assert proc.stdout.readline().strip() == b"ready"
        return proc

    car1 = await trio.to_thread.run_sync(start_car)
    try:
        # The spare has a shorter runway, so the dispatcher offers to car1 first.
        car2 = NodeUplink.open(mesh.node_config("car2"), LocalPort(runway_s=1000.0))
        dispatcher = mesh.dispatcher(["car1", "car2"], ["alice"])
        client = mesh.client("alice")
        async with running(dispatcher, car2, client) as nursery:
            nodes = dispatcher.core.nodes
            await wait_until(
                lambda: all(c in nodes and nodes[c].accepting for c in ("car1", "car2")),
                what="both cars",
            )
            results = []

            async def submit() -> None:
                results.append(await client.submit("hash", ["sleep:1.0:x"], k=1, spares=1))

            nursery.start_soon(submit)
            await wait_until(
                lambda: any(
                    j.replicas.get("car1") and j.replicas["car1"].state == "accepted"
                    for j in dispatcher.core.jobs.values()
                ),
                what="car1 to accept",
            )
            (job,) = dispatcher.core.jobs
            car1.kill()
            car1.wait()
            # The Will (1 s delay) tells the dispatcher; the spare car2 runs the job.
            await wait_until(lambda: results, 15.0, "the result from the spare")
            assert dispatcher.core.jobs[job].winner == "car2"
            assert dispatcher.received[("car1", "failure", job)] == 0
            car1 = await trio.to_thread.run_sync(start_car)
            # Restarted, car1 finds the job journaled as running: it answers 'crashed' once
            # and never runs it again.
            await wait_until(
                lambda: dispatcher.received[("car1", "failure", job)] == 1,
                10.0,
                f"car1's answer after the restart ({dispatcher.received}, "
                f"refused {dispatcher.refused})",
            )
            await trio.sleep(0.5)
        assert dispatcher.received[("car1", "failure", job)] == 1
        assert dispatcher.received[("car1", "result", job)] == 0
        assert dispatcher.core.jobs[job].replicas["car1"].reason == "offline"
    finally:
        car1.terminate()
        car1.wait(timeout=10)
    store = NodeStore(mesh.node_config("car1").state_file)
    assert store.state_of(job) == "answered"
    assert store.pending() == []
