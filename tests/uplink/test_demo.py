"""The demo mesh: jobs flow, and a pre-empted demo car's job moves to another car."""

from __future__ import annotations

from pathlib import Path

import pytest
import trio

from uplink.demo import DemoMesh, MeshEvent
from uplink.local_port import LocalPort
from uplink.testing import wait_until


@pytest.mark.slow
async def test_demo_mesh_shows_jobs_preemption_and_cancels(tmp_path: Path) -> None:
    events: list[MeshEvent] = []
    car = LocalPort()
    demo = DemoMesh(
        tmp_path, car, job_interval_s=1.2, job_text="sleep:0.3:x", on_event=events.append
    )
    async with trio.open_nursery() as nursery:
        await nursery.start(demo.run)
        await wait_until(lambda: demo.outcomes["done"] >= 2, 15.0, "two jobs done")
        await wait_until(lambda: car._stops, 5.0, "the demo car running a job")
        car.preempt("driver door open")
        await wait_until(
            lambda: any(e.kind == "failure" and "preempted" in e.text for e in events),
            5.0,
            "the pre-emption",
        )
        done = demo.outcomes["done"]
        await wait_until(lambda: demo.outcomes["done"] > done, 10.0, "jobs going on")
        nursery.cancel_scope.cancel()
    kinds = {e.kind for e in events}
    assert {"offer", "accept", "result", "cancel", "job_done", "failure", "status"} <= kinds
    assert demo.outcomes["failed"] == 0, [e.text for e in events if e.kind == "job_failed"]
