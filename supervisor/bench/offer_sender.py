"""The dispatcher side of ``bench stop-under-load``'s ``messages`` load, in its own process.

A real reference dispatcher (`uplink.dispatcher`) on the bench's own mosquitto sends the car
signed offers of `size_mib` MiB at random gaps, until its standard input closes. The offers
name a model the car does not serve, so the car opens each one whole (TLS, paho, the
signature over all of it, the strict decode) and then declines it: the path of a large
offer through the daemon, without a job to run. Prints the number of offers sent.

Usage: ``python -m supervisor.bench.offer_sender MESH_DIR NODE SIZE_MIB GAP_MIN_MS GAP_MAX_MS
SEED``.
"""

from __future__ import annotations

import os
import random
import sys
import time
import uuid
from pathlib import Path

import trio

from uplink.dispatcher.service import Dispatcher
from uplink.mesh import Mesh
from uplink.testing import running, wait_until

UNSERVED_MODEL = "bench-unserved-model"


async def send_offers(
    dispatcher: Dispatcher, node: str, size_mib: float, gaps_ms: tuple[float, float], seed: int
) -> int:
    """Send offers to `node` until standard input closes; returns how many were sent."""
    rng = random.Random(seed)
    payload = os.urandom(int(size_mib * 2**20))
    topic = dispatcher.topics.node_in(node)
    sent = [0]

    def seal() -> bytes:
        body = {
            "job": f"bench-{uuid.uuid4().hex[:12]}",
            "model": UNSERVED_MODEL,
            "tier": "batch",
            "deadline": time.time() + 60,
            "input": payload,
        }
        return dispatcher.signer.seal("offer", body, to=node, ttl_s=60)

    async def keep_sending() -> None:
        while True:
            dispatcher.mqtt.publish(topic, await trio.to_thread.run_sync(seal))
            sent[0] += 1
            await trio.sleep(rng.uniform(*gaps_ms) / 1000)

    async with trio.open_nursery() as nursery:
        nursery.start_soon(keep_sending)
        await trio.to_thread.run_sync(sys.stdin.buffer.read, abandon_on_cancel=True)
        nursery.cancel_scope.cancel()
    return sent[0]


async def main(
    root: Path, node: str, size_mib: float, gaps_ms: tuple[float, float], seed: int
) -> int:
    mesh = Mesh.open(root)
    dispatcher = mesh.dispatcher([node], [])
    async with running(dispatcher):
        await wait_until(lambda: node in dispatcher.core.nodes, 60.0, f"{node} online")
        return await send_offers(dispatcher, node, size_mib, gaps_ms, seed)


if __name__ == "__main__":
    root, node, size, gap_min, gap_max, seed = sys.argv[1:7]
    count = trio.run(
        main, Path(root), node, float(size), (float(gap_min), float(gap_max)), int(seed)
    )
    print(count, flush=True)
