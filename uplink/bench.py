"""The time the uplink adds to a job, through a real broker (``parkmesh bench uplink``).

Starts mosquitto on loopback (MQTT 5, mutual TLS), the reference dispatcher, one car (its
`NodeUplink` over a `LocalPort` running the small ``embed-tiny`` model) and a submit client,
all real and in this process, then sends jobs one after another. For each: end to end (the
client sending ``submit`` to the client holding the opened output) minus the worker's own time
(reported by the car) is what the uplink adds: sealing, signing and verifying, the journal and
outbox writes, four broker hops, the dispatcher. The quote round trip is reported apart.
"""

from __future__ import annotations

import statistics
import time
from pathlib import Path
from typing import Any

import trio


def run_bench(workdir: Path, jobs: int, warmup: int, model: str) -> dict[str, Any]:
    """Run the benchmark in `workdir` (its own trio run); returns the JSON-ready figures.

    Raises:
        TimeoutError: the dispatcher did not see the car accepting jobs within 10 s.
        JobFailed: a job did not complete.
    """
    from .broker import Mosquitto
    from .local_port import LocalPort
    from .mesh import Mesh
    from .node import NodeUplink
    from .testing import seen_accepting

    (workdir / "broker").mkdir()
    with Mosquitto(workdir / "broker") as broker:
        mesh = Mesh.create(workdir / "mesh", broker)

        async def main() -> dict[str, Any]:
            node = NodeUplink.open(mesh.node_config("car1"), LocalPort())
            dispatcher = mesh.dispatcher(["car1"], ["bench"])
            client = mesh.client("bench")
            added, quote, worker = [], [], []
            async with trio.open_nursery() as nursery:
                await nursery.start(dispatcher.run)
                await nursery.start(node.run)
                await node.mqtt.wait_connected()
                await nursery.start(client.run)
                await seen_accepting(dispatcher, "car1")
                payload = ["a parked car computes this sentence " * 8]
                t0 = time.perf_counter()
                for i in range(warmup + jobs):
                    out = await client.submit(model, payload, tier="batch", k=1)
                    if i >= warmup:
                        added.append(out.e2e_ms - out.timings["worker_ms"])
                        quote.append(out.quote_ms)
                        worker.append(out.timings["worker_ms"])
                wall = time.perf_counter() - t0
                nursery.cancel_scope.cancel()
            return {
                "n": len(added),
                "p50_ms": round(_pct(added, 50), 3),
                "p99_ms": round(_pct(added, 99), 3),
                "mean_ms": round(statistics.fmean(added), 3),
                "max_ms": round(max(added), 3),
                "quote_p50_ms": round(_pct(quote, 50), 3),
                "quote_p99_ms": round(_pct(quote, 99), 3),
                "worker_p50_ms": round(_pct(worker, 50), 3),
                "jobs_per_s": round((warmup + jobs) / wall, 1),
                "model": model,
                "transport": "mosquitto 127.0.0.1, MQTT 5, mutual TLS, QoS 1",
            }

        return trio.run(main)


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))]
