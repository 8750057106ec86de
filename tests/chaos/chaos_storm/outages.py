"""The promise that the parts around the daemon may fail and nothing is lost: the worker
killed mid-job, the broker gone for a while, the power cut under everything at once."""

from __future__ import annotations

import trio
from chaos_harness import power_cut

from .storm import StormBase


class OutageFaults(StormBase):
    """Faults of the worker, the broker and the power."""

    async def worker_kill_mid_job(self) -> None:
        """SIGKILL of the worker while it computes; the daemon lives on and starts another."""
        step = "worker_kill_mid_job"
        seen = await self.moment(step, "accept")
        await trio.sleep(self.rng.uniform(0.02, 0.3))
        pid = self.world.car.kill_worker()
        self.kills[step] += pid is not None
        self.log(f"{step}: worker {pid} killed (job {seen.job[:8] if seen else '-'})")

    async def broker_outage(self) -> None:
        """The broker stops cleanly (saving its sessions) at a random moment, for 0.5-2.5 s."""
        await trio.sleep(self.rng.uniform(0.0, 2.0))
        down_s = self.rng.uniform(0.5, 2.5)
        await trio.to_thread.run_sync(self.world.broker.stop)
        self.kills["broker_outage"] += 1
        self.log(f"broker_outage: broker stopped for {down_s:.2f} s")
        await trio.sleep(down_s)
        await trio.to_thread.run_sync(self.world.broker.start)

    async def power_cut(self) -> None:
        """Everything dies at once, mid-job or right after a result; then a cold start."""
        msg_type = self.rng.choice(["accept", "result"])
        seen = await self.moment("power_cut", msg_type)
        if msg_type == "accept":
            await trio.sleep(self.rng.uniform(0.02, 0.3))
        w = self.world
        power_cut(w.broker, w.dispatcher, w.car)
        self.kills["power_cut"] += 1
        self.log(
            f"power_cut after {msg_type} (job {seen.job[:8] if seen else '-'}): "
            "broker, dispatcher, daemon and worker killed"
        )
        await trio.to_thread.run_sync(w.broker.start)
        w.dispatcher.start()
        self.restart_daemon()
