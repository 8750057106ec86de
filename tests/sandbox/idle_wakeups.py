"""Counting how often an idle trio loop wakes up: a pool and the uplink's status publisher.

`WakeCounter` is a `trio.abc.Instrument`: it counts the loop's returns from a blocking I/O
wait (``after_io_wait`` with a timeout above zero: the loop slept and something woke it) and
the task steps, by task name. `measure_idle` starts a pool of real workers (the fake model)
and a `StatusPublisher` with its `LinkMonitor` (no broker: the client is never connected, so
the publisher only looks and never sends), lets them settle, and counts for a window.

``python -m tests.sandbox.idle_wakeups [SECONDS] [--poll]`` prints the figures at RUN and during
a hard stop (root: the workers drop to their own user); ``--poll``: the publisher has no change
feed and polls its port, as a port without feeds is read.
"""

from __future__ import annotations

import collections
import json
import shutil
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import trio
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from sandbox.config import SandboxConfig
from sandbox.keys import provision_worker_key
from sandbox.pool import WorkerPool
from sandbox.stop_page import StopLevel, StopReason
from uplink import pki
from uplink.client import MqttClient, TlsFiles
from uplink.config import UplinkConfig
from uplink.envelope import Signer
from uplink.link_monitor import LinkMonitor
from uplink.node_port import NodeStatus
from uplink.node_status import NodeFlags, StatusPublisher

from .conftest import FAKE_LOADER, WORKER_UID, node_config


@dataclass(eq=False)  # hashable: trio keeps its instruments in a set
class WakeCounter(trio.abc.Instrument):
    """Loop wake-ups and task steps since `reset` (trio thread only)."""

    wakeups: int = 0
    steps: collections.Counter[str] = field(default_factory=collections.Counter)
    since: float = field(default_factory=time.monotonic)

    def after_io_wait(self, timeout: float) -> None:
        if timeout > 0:
            self.wakeups += 1

    def before_task_step(self, task: trio.lowlevel.Task) -> None:
        self.steps[".".join(task.name.split(".")[-2:])] += 1

    def reset(self) -> None:
        """Count from now."""
        self.wakeups, self.steps, self.since = 0, collections.Counter(), time.monotonic()

    def rates(self) -> dict[str, object]:
        """Wake-ups and steps per second since `reset`, the busiest tasks first."""
        span = time.monotonic() - self.since
        return {
            "seconds": round(span, 2),
            "wakeups_per_s": round(self.wakeups / span, 2),
            "steps_per_s": round(sum(self.steps.values()) / span, 2),
            "steps_per_s_by_task": {
                name: round(n / span, 2) for name, n in self.steps.most_common(8)
            },
        }


def publisher(
    pool: WorkerPool, base: Path, *, feeds: bool = True
) -> tuple[StatusPublisher, LinkMonitor]:
    """A status publisher over `pool` with a client that never connects; `feeds`: told of the
    pool's changes (False: a port without feeds, polled)."""
    config = UplinkConfig(node_id="idle-car", link_source="config")
    ca = pki.make_ca(base / "pki")
    car = pki.issue(ca, base / "pki", "idle-car")
    mqtt = MqttClient(
        client_id="idle-car",
        host="localhost",
        port=1,
        tls=TlsFiles(ca.cert, car.cert, car.key),
        subscriptions=[],
    )
    monitor = LinkMonitor(config, mqtt, "echo")

    def snapshot() -> NodeStatus:
        models = tuple(s.model for s in pool.statistics() if s.state in ("ready", "busy"))
        return NodeStatus(accepting=pool.level() == StopLevel.RUN, models=models)

    status = StatusPublisher(
        mqtt=mqtt,
        signer=Signer("idle-car", Ed25519PrivateKey.generate()),
        topic="status",
        link_monitor=monitor,
        snapshot=snapshot,
        running=lambda: 0,
        flags=NodeFlags(),
        min_interval_s=config.status_min_interval_s,
        will_delay_s=config.will_delay_s,
        clock=time.time,
        # The snapshot above reads the pool alone: its changes are the port's one feed.
        changes=[pool.changes.wait] if feeds else None,
    )
    return status, monitor


async def measure_idle(
    config: SandboxConfig, base: Path, seconds: float, settle_s: float = 1.0, feeds: bool = True
) -> dict[str, dict[str, object]]:
    """Figures of an idle pool + status publisher: at RUN, then during a hard stop."""
    counter = WakeCounter()
    pool = WorkerPool(config, loader=FAKE_LOADER)
    status, monitor = publisher(pool, base, feeds=feeds)
    figures: dict[str, dict[str, object]] = {}
    async with trio.open_nursery() as nursery:
        await nursery.start(pool.run)
        await nursery.start(status.run)
        await nursery.start(monitor.run)
        trio.lowlevel.add_instrument(counter)
        try:
            for name, stop in (("run", False), ("hard_stop", True)):
                if stop:
                    pool.stop_all_nowait(StopLevel.HARD, StopReason.TEST)
                await trio.sleep(settle_s)
                counter.reset()
                await trio.sleep(seconds)
                figures[name] = counter.rates()
        finally:
            trio.lowlevel.remove_instrument(counter)
        nursery.cancel_scope.cancel()
    return figures


def provisioned_node(base: Path) -> SandboxConfig:
    """A node under `base` as the `node` fixture makes it (run as root)."""
    base.chmod(0o755)
    (base / "models").mkdir()
    (base / "models" / "operator-dev.pub").write_text("11" * 32 + "\n")
    provision_worker_key(base / "keys" / "worker.key", WORKER_UID, WORKER_UID)
    (base / "keys").chmod(0o755)
    return node_config(base)


def main() -> None:
    """Print the figures of a `SECONDS`-long window (10 s by default) as JSON."""
    args = [a for a in sys.argv[1:] if a != "--poll"]
    seconds = float(args[0]) if args else 10.0
    base = Path(tempfile.mkdtemp(prefix="parkmesh-idle-", dir="/tmp"))
    try:
        config = provisioned_node(base)
        figures = trio.run(measure_idle, config, base, seconds, 1.0, "--poll" not in sys.argv)
        print(json.dumps(figures, indent=2))
    finally:
        shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    main()
