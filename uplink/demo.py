"""The mesh around the demo car: broker, dispatcher, stand-in cars and a client submitting jobs.

`DemoMesh` is for ``parkmesh demo``: the scenario car (the daemon's own `NodePort`) joins a real
mesh on loopback: mosquitto with mutual TLS, the reference dispatcher, `extra_cars` stand-in
cars (`LocalPort`, a little slower than the demo car so it usually wins) and a client that
submits a job every `job_interval_s` to k cars. Every protocol step the dispatcher sees or
sends is reported to `on_event` as one `MeshEvent` (offers, accepts, results, pre-emptions,
cancels, reassignments), so cancellations and pre-emptions are visible as they happen.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import trio

from .broker import Mosquitto
from .dispatcher.submit import JobFailed
from .local_port import LocalPort, compute_output
from .mesh import Mesh
from .node import NodeUplink
from .node_port import NodePort
from .testing import wait_until

LOG = logging.getLogger("parkmesh.demo.mesh")


@dataclass(frozen=True, slots=True)
class MeshEvent:
    """One thing that happened in the mesh, in words and as data."""

    kind: str  # offer, accept, result, failure, cancel, job_done, job_failed, status
    car: str
    job: str
    text: str
    data: Mapping[str, Any] = field(default_factory=dict)


class DemoMesh:
    """A trio service running a whole mesh around `car_port` (see the module docstring).

    Cancel `run` to stop everything (mosquitto included). `outcomes` counts finished jobs by
    outcome (``done``, ``failed``) and `winners` by winning car.
    """

    def __init__(
        self,
        workdir: Path,
        car_port: NodePort,
        *,
        car_id: str = "demo-car",
        model: str = "hash",
        extra_cars: int = 2,
        redundancy: int = 3,
        job_interval_s: float = 2.0,
        job_text: str = "sleep:0.5:hello",
        on_event: Callable[[MeshEvent], None] | None = None,
        stand_in_compute: Callable[[str, Sequence[str]], dict[str, Any]] = compute_output,
    ) -> None:
        self.workdir = workdir
        self.car_port, self.car_id, self.model = car_port, car_id, model
        self.extra = [f"car{i + 1}" for i in range(extra_cars)]
        self.redundancy, self.job_interval_s, self.job_text = redundancy, job_interval_s, job_text
        self._on_event = on_event or (lambda event: None)
        self.outcomes: dict[str, int] = {"done": 0, "failed": 0}
        self.winners: dict[str, int] = {}
        self.broker: Mosquitto | None = None
        self.stand_in_compute = stand_in_compute
        self.car_uplink: NodeUplink | None = None

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Start broker, dispatcher, cars and client; ``started`` once the demo car is known
        to the dispatcher; then submit jobs until cancelled."""
        (self.workdir / "broker").mkdir(parents=True, exist_ok=True)
        broker = self.broker = Mosquitto(self.workdir / "broker")
        await trio.to_thread.run_sync(broker.start)
        try:
            mesh = Mesh.create(self.workdir / "mesh", broker)
            cars = [self.car_id, *self.extra]
            dispatcher = mesh.dispatcher(cars, ["demo-client"], observer=self._observe)
            client = mesh.client("demo-client")
            async with trio.open_nursery() as nursery:
                await nursery.start(dispatcher.run)
                self.car_uplink = NodeUplink.open(mesh.node_config(self.car_id), self.car_port)
                await nursery.start(self.car_uplink.run)
                for i, name in enumerate(self.extra):
                    port = LocalPort(
                        models=(self.model,),
                        extra_delay_s=0.3 * (i + 1),
                        compute=self.stand_in_compute,
                    )
                    await nursery.start(NodeUplink.open(mesh.node_config(name), port).run)
                await nursery.start(client.run)
                await wait_until(
                    lambda: self.car_id in dispatcher.core.nodes,
                    15.0,
                    f"the dispatcher to see {self.car_id}",
                )
                task_status.started()
                while True:
                    nursery.start_soon(self._one_job, client)
                    await trio.sleep(self.job_interval_s)
        finally:
            with trio.CancelScope(shield=True):
                await trio.to_thread.run_sync(broker.stop)

    async def _one_job(self, client: Any) -> None:
        t0 = time.monotonic()
        try:
            out = await client.submit(
                self.model,
                [self.job_text],
                tier="batch",
                k=self.redundancy,
                spares=2,
                deadline_s=30.0,
            )
        except JobFailed as exc:
            self.outcomes["failed"] += 1
            job = str(exc.job)[:8]
            self._emit("job_failed", "", job, f"job {job} failed: {_why(exc.reason, exc.detail)}")
            return
        self.outcomes["done"] += 1
        job = str(out.job)[:8]
        self._emit(
            "job_done",
            out.car,
            job,
            f"job {job} done in {(time.monotonic() - t0) * 1e3:.0f} ms by car alias "
            f"{out.car} (the client never learns which car)",
        )

    def _observe(self, direction: str, who: str, msg_type: str, body: Mapping[str, Any]) -> None:
        job = str(body.get("job", ""))[:8]
        if direction == "out" and msg_type == "offer":
            self._emit("offer", who, job, f"dispatcher offers job {job} to {who}")
        elif direction == "out" and msg_type == "cancel":
            self._emit(
                "cancel",
                who,
                job,
                f"dispatcher cancels job {job} on {who}"
                + (f" ({body['reason']})" if body.get("reason") else ""),
            )
        elif direction == "in" and msg_type == "accept":
            self._emit("accept", who, job, f"{who} accepts job {job}")
        elif direction == "in" and msg_type == "result":
            self._emit(
                "result",
                who,
                job,
                f"{who} returns job {job} (sealed output, "
                f"{float(body['timings'].get('worker_ms', 0.0)):.0f} ms in the worker)",
            )
            self.winners[who] = self.winners.get(who, 0) + 1
        elif direction == "in" and msg_type == "failure":
            why = _why(str(body["reason"]), str(body.get("detail", "")))
            self._emit("failure", who, job, f"{who}: job {job} {why}")
        elif direction == "in" and msg_type == "status":
            state = "accepting" if body.get("accepting") else "not accepting"
            why = "; ".join(body.get("reasons") or [])
            self._emit("status", who, "", f"{who} is {state}" + (f": {why}" if why else ""), body)

    def _emit(
        self, kind: str, car: str, job: str, text: str, data: Mapping[str, Any] | None = None
    ) -> None:
        event = MeshEvent(kind, car, job, text, data or {})
        LOG.info("%s", text)
        self._on_event(event)


def _why(reason: str, detail: str) -> str:
    """A failure in words, its reason said once: ``declined (not accepting: door open)``,
    ``cancelled: another car won`` rather than ``cancelled (cancelled: another car won)``."""
    if not detail:
        return reason
    if detail.startswith(reason):
        return detail
    return f"{reason} ({detail})"
