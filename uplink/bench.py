"""``parkmesh bench uplink``: the time the uplink adds to a job, through a real broker.

Starts mosquitto on loopback (MQTT 5, mutual TLS), the reference dispatcher, one car (its
`NodeUplink` over a `LocalPort` running the small ``embed-tiny`` model) and a submit client,
all real and in this process, then sends jobs one after another. For each: end to end (the
client sending ``submit`` to the client holding the opened output) minus the worker's own time
(reported by the car) is what the uplink adds: sealing, signing and verifying, the journal and
outbox writes, four broker hops, the dispatcher. The quote round trip is reported apart.
"""

from __future__ import annotations

import argparse
import logging
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import trio

from supervisor.cli.output import print_json


def register(sub: argparse._SubParsersAction[Any]) -> None:
    """Add ``parkmesh bench uplink``."""
    parser = sub.add_parser("uplink", help="time the uplink adds per job through mosquitto+TLS")
    parser.add_argument("--jobs", type=int, default=500, help="measured jobs (default 500)")
    parser.add_argument("--warmup", type=int, default=30, help="unmeasured jobs first")
    parser.add_argument("--model", default="embed-tiny", choices=("embed-tiny", "hash"))
    parser.add_argument("--json", action="store_true", help="print JSON (the default output)")
    parser.set_defaults(func=_main)


def _main(args: argparse.Namespace) -> int:
    if args.jobs < 1 or args.warmup < 0:
        print("parkmesh: --jobs must be positive and --warmup not negative", file=sys.stderr)
        return 2
    logging.getLogger("parkmesh").setLevel(logging.WARNING)
    with tempfile.TemporaryDirectory(prefix="parkmesh-bench-") as tmp:
        result = run_bench(Path(tmp), args.jobs, args.warmup, args.model)
    print_json(result)
    return 0


def run_bench(workdir: Path, jobs: int, warmup: int, model: str) -> dict[str, Any]:
    """Run the benchmark in `workdir`; returns the JSON-ready figures."""
    from .broker import Mosquitto
    from .local_port import LocalPort
    from .mesh import Mesh
    from .node import NodeUplink

    (workdir / "broker").mkdir()
    with Mosquitto(workdir / "broker") as broker:
        mesh = Mesh.create(workdir / "mesh", broker)

        async def main() -> dict[str, Any]:
            node = NodeUplink(mesh.node_config("car1"), LocalPort())
            dispatcher = mesh.dispatcher(["car1"], ["bench"])
            client = mesh.client("bench")
            added, quote, worker = [], [], []
            async with trio.open_nursery() as nursery:
                await nursery.start(dispatcher.run)
                await nursery.start(node.run)
                await node.mqtt.wait_connected()
                await nursery.start(client.run)
                await wait_for_car(dispatcher, "car1")
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


async def wait_for_car(dispatcher: Any, car: str, timeout_s: float = 10.0) -> None:
    """Return once `dispatcher` has seen `car` online and accepting; TimeoutError if not."""
    for _ in range(int(timeout_s / 0.01)):
        info = dispatcher.core.nodes.get(car)
        if info is not None and info.accepting:
            return
        await trio.sleep(0.01)
    raise TimeoutError(f"the dispatcher did not see {car} accepting within {timeout_s} s")


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))]
